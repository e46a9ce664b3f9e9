"""``GET /payments/{id}/receipt`` and ``.../receipt.pdf``: a payment's receipt, owner only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import falcon

from gateway.auth.middleware import require_login, viewer
from gateway.errors import wants_json
from gateway.humantime import iso_utc
from gateway.receipts import Receipt, receipt_for
from gateway.receipts_pdf import receipt_lines, receipt_pdf
from gateway.templates import Renderer
from wire.times import utcnow


def _owned(req: falcon.Request, payment_id: int) -> Receipt:
    """The receipt, or the same 404 whether the payment is missing or someone else's."""
    receipt = receipt_for(req.context.address, payment_id)
    if receipt is None:
        raise falcon.HTTPNotFound(
            title="Receipt not found",
            description="There is no receipt with this number in your account.",
        )
    return receipt


class ReceiptPage:
    """``GET /payments/{payment_id}/receipt``: a printable receipt."""

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response, payment_id: int) -> None:
        receipt = _owned(req, payment_id)
        if wants_json(req):
            resp.media = {
                "number": receipt.number,
                "provider": receipt.provider,
                "provider_label": receipt.provider_label,
                "method": receipt.method,
                "reference": receipt.reference,
                "topup_reference": receipt.topup_reference,
                "paid_at": iso_utc(receipt.paid_at) if receipt.paid_at else None,
                "amount_cents": receipt.amount_cents,
                "currency": receipt.currency.lower(),
                "balance_after_cents": receipt.balance_after_cents,
            }
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "receipt.html", viewer=viewer(req), receipt=receipt, lines=receipt_lines(receipt)
        )


class ReceiptPdf:
    """``GET /payments/{payment_id}/receipt.pdf``: the same receipt as a PDF download."""

    def __init__(self, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._clock = clock

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response, payment_id: int) -> None:
        receipt = _owned(req, payment_id)
        resp.content_type = "application/pdf"
        resp.downloadable_as = f"hero-receipt-{receipt.number}.pdf"
        resp.data = receipt_pdf(receipt, issued_at=self._clock())
