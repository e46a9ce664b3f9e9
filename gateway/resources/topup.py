"""Top-ups: start one with a provider, then watch it until its webhook has credited it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

import falcon

from adapters.payments import PaymentProvider
from gateway.errors import wants_json
from gateway.templates import Renderer
from models import Account, Billing, TopUp
from models.address import canonical_address
from models.errors import AccountNotFound, InvalidAddress
from models.money import format_cents, parse_cents

#: Smallest and largest top-up accepted, in cents.
MIN_TOPUP_CENTS = 100
MAX_TOPUP_CENTS = 100_000
#: Amounts offered as one-click choices, in cents.
PRESET_CENTS = (500, 1000, 2500, 5000)


def new_topup_id() -> str:
    """A top-up id: unguessable, and letters and digits only (ClickPesa order references)."""
    return "HERO" + secrets.token_hex(10).upper()


def parse_topup_amount(raw: str | None) -> int:
    """Parse the amount field of the form, in dollars; raise HTTP 400 naming the problem."""
    if not raw:
        raise falcon.HTTPBadRequest(title="Amount missing", description="amount: enter an amount")
    try:
        cents = parse_cents(raw)
    except ValueError as exc:
        raise falcon.HTTPBadRequest(title="Invalid amount", description=f"amount: {exc}") from None
    if not MIN_TOPUP_CENTS <= cents <= MAX_TOPUP_CENTS:
        raise falcon.HTTPBadRequest(
            title="Amount out of range",
            description=f"amount: must be between {format_cents(MIN_TOPUP_CENTS)} and "
            f"{format_cents(MAX_TOPUP_CENTS)}",
        )
    return cents


class TopUpStart:
    """``GET /topup`` shows the form; ``POST /topup`` starts a checkout and redirects to it."""

    def __init__(
        self,
        *,
        providers: Mapping[str, PaymentProvider],
        send: Callable[..., Any],
        renderer: Renderer,
        public_url: str,
    ) -> None:
        self._providers = providers
        self._send = send
        self._renderer = renderer
        self._public_url = public_url

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "topup.html",
            providers=sorted(self._providers),
            presets=PRESET_CENTS,
            address=req.get_param("address") or "",
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = req.get_media(default_when_empty={}) or {}
        provider_name = form.get("provider") or ""
        provider = self._providers.get(provider_name)
        if provider is None:
            raise falcon.HTTPBadRequest(
                title="Unknown payment provider",
                description=f"provider: choose one of {', '.join(sorted(self._providers))}",
            )
        amount_cents = parse_topup_amount(form.get("amount"))
        try:
            address = canonical_address(form.get("address") or "")
        except InvalidAddress as exc:
            raise InvalidAddress(f"address: {exc}") from None
        if not Account.select().where(Account.address == address).exists():
            raise AccountNotFound(f"no account for {address}: log in first to create it")
        topup_id = new_topup_id()
        self._send(
            "record_topup",
            public_id=topup_id,
            address=address,
            provider=provider_name,
            amount_cents=amount_cents,
            provider_ref=None,
        )
        checkout = provider.start_checkout(
            topup_id=topup_id,
            address=address,
            amount_cents=amount_cents,
            return_url=f"{self._public_url}/topups/{topup_id}",
            cancel_url=f"{self._public_url}/topup?address={address}",
        )
        if wants_json(req):
            resp.status = falcon.HTTP_201
            resp.media = {"topup_id": topup_id, "redirect_url": checkout.redirect_url}
            return
        raise falcon.HTTPSeeOther(checkout.redirect_url)


class TopUpStatus:
    """``GET /topups/{topup_id}``: the return page, refreshing until the webhook credited."""

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response, topup_id: str) -> None:
        topup = TopUp.get_or_none(TopUp.public_id == topup_id)
        billing = Billing.get_or_none(Billing.account == topup.account) if topup else None
        state = {
            "topup_id": topup_id,
            "status": topup.status if topup else "pending",
            "amount_cents": topup.amount_cents if topup else None,
            "balance_cents": billing.balance_cents if billing else None,
        }
        if wants_json(req):
            resp.media = state
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render("topup_status.html", **state)
