"""One top-up: its status page, resuming its payment, and cancelling it.

The status page refreshes itself while there is something to wait for; an unknown,
expired or cancelled top-up is said to be so and the page stops refreshing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

import messages
from gateway.auth.middleware import require_login, viewer
from gateway.errors import wants_json
from gateway.resources.topup import TopUpForm, TopUpStart, owned_topup
from gateway.templates import Renderer
from models import Billing, TopUp
from models.money import format_cents
from models.payments import topup_state
from wire.times import utcnow

#: Refreshes of a status page (one every 2 s) before a top-up not recorded is unknown.
WAIT_REFRESHES = 30


def _waited(req: falcon.Request) -> int:
    raw = req.get_param("waited") or "0"
    return min(int(raw), WAIT_REFRESHES) if raw.isdigit() and len(raw) < 6 else 0


def _mine(req: falcon.Request, topup_id: str) -> TopUp:
    """The viewer's top-up *topup_id* (recorded).

    Raises:
        falcon.HTTPNotFound: unknown, not recorded yet, or someone else's.
    """
    topup = owned_topup(req, topup_id) if len(topup_id) <= 40 else None
    if topup is None:
        raise falcon.HTTPNotFound(
            title="Top-up not found", description="None of your top-ups has this reference."
        )
    return topup


class TopUpStatus:
    """``GET /topups/{topup_id}``: the return page, refreshing until the webhook credited.

    Only the owner's session sees a top-up.
    """

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response, topup_id: str) -> None:
        topup = owned_topup(req, topup_id)
        billing = Billing.get_or_none(Billing.account == topup.account) if topup else None
        waited = _waited(req)
        if topup is not None:
            status = topup_state(topup.status, topup.created_at, now=utcnow())
        else:
            status = "unknown" if waited >= WAIT_REFRESHES else "pending"
        state = {
            "topup_id": topup_id,
            "status": status,
            "amount_cents": topup.amount_cents if topup else None,
            "balance_cents": billing.balance_cents if billing else None,
        }
        if wants_json(req):
            resp.media = state
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "topup_status.html",
            viewer=viewer(req),
            next_refresh=f"/topups/{topup_id}?waited={waited + 1}",
            **state,
        )


class TopUpResume:
    """``POST /topups/{topup_id}/resume``: back to its checkout while that lives, else a
    new top-up of the same amount with the same provider."""

    def __init__(self, *, start: TopUpStart) -> None:
        self._start = start

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response, topup_id: str) -> None:
        topup = _mine(req, topup_id)
        state = topup_state(topup.status, topup.created_at, now=utcnow())
        if state == "paid":
            raise falcon.HTTPSeeOther(f"/topups/{topup.public_id}")
        if state == "started" and topup.checkout_url:
            raise falcon.HTTPSeeOther(topup.checkout_url)
        if topup.provider not in self._start.providers:
            resp.status = falcon.HTTP_400
            form = TopUpForm(
                custom_amount=format_cents(topup.amount_cents).lstrip("$").replace(",", "")
            )
            form.errors["provider"] = (
                f"{topup.provider.capitalize()} is no longer offered: choose another way to pay"
            )
            self._start.render(req, resp, form)
            return
        if state == "started":  # never reached its checkout: this one replaces it
            self._start.send(
                messages.CancelTopup(public_id=topup.public_id, address=req.context.address)
            )
        new_id, checkout = self._start.start(
            req.context.address, topup.provider, topup.amount_cents
        )
        if wants_json(req):
            resp.status = falcon.HTTP_201
            resp.media = {"topup_id": new_id, "redirect_url": checkout.redirect_url}
            return
        raise falcon.HTTPSeeOther(checkout.redirect_url)


class TopUpCancel:
    """``POST /topups/{topup_id}/cancel``: ask the workers to cancel a top-up not paid."""

    def __init__(self, *, send: Callable[..., Any]) -> None:
        self._send = send

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response, topup_id: str) -> None:
        topup = _mine(req, topup_id)
        state = topup_state(topup.status, topup.created_at, now=utcnow())
        if state in ("started", "expired"):
            self._send(messages.CancelTopup(public_id=topup.public_id, address=req.context.address))
        if wants_json(req):
            resp.status = falcon.HTTP_202
            resp.media = {"topup_id": topup.public_id, "status": state}
            return
        raise falcon.HTTPSeeOther(f"/topup?cancelled={topup.public_id}#unpaid")
