"""Top-ups: start one with a provider, then watch it until its webhook has credited it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

import falcon

from adapters.payments import PaymentProvider
from gateway import forms
from gateway.auth.middleware import require_login, viewer
from gateway.errors import wants_json
from gateway.resources.kyc import refuse_unverified
from gateway.templates import Renderer
from models import Account, Billing, TopUp
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


def account_being_set_up() -> falcon.HTTPConflict:
    """The answer for a logged-in address whose account the workers have not created yet."""
    return falcon.HTTPConflict(
        title="Your account is being set up",
        description="Your login worked; your account is still being created. "
        "Try again in a moment.",
    )


class TopUpStart:
    """``GET /topup`` shows the form; ``POST /topup`` starts a checkout and redirects to it.

    Both need a session: the top-up is for the logged-in address, never a form field.
    """

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

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "topup.html",
            viewer=viewer(req),
            account_ready=Account.select().where(Account.address == req.context.address).exists(),
            providers=sorted(self._providers),
            presets=PRESET_CENTS,
            min_cents=MIN_TOPUP_CENTS,
            max_cents=MAX_TOPUP_CENTS,
        )

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        provider_name = forms.text(form, "provider")
        provider = self._providers.get(provider_name)
        if provider is None:
            raise falcon.HTTPBadRequest(
                title="Unknown payment provider",
                description=f"provider: choose one of {', '.join(sorted(self._providers))}",
            )
        custom = forms.text(form, "custom_amount")
        amount_cents = parse_topup_amount(custom or forms.text(form, "amount"))
        address: str = req.context.address
        if not Account.select().where(Account.address == address).exists():
            raise account_being_set_up()
        refuse_unverified(req, "topup")
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
            cancel_url=f"{self._public_url}/topup",
        )
        if wants_json(req):
            resp.status = falcon.HTTP_201
            resp.media = {"topup_id": topup_id, "redirect_url": checkout.redirect_url}
            return
        raise falcon.HTTPSeeOther(checkout.redirect_url)


def owned_topup(req: falcon.Request, topup_id: str) -> TopUp | None:
    """The top-up *topup_id* when it belongs to the session's address; None while unrecorded.

    An id not recorded (yet) reads as pending, since ``record_topup`` may still be on its
    way; ids are 80 random bits, so that tells a guesser nothing usable.

    Raises:
        falcon.HTTPNotFound: it is someone else's.
    """
    topup: TopUp | None = TopUp.get_or_none(TopUp.public_id == topup_id)
    if topup is not None and topup.account.address != req.context.address:
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
        resp.text = self._renderer.render("topup_status.html", viewer=viewer(req), **state)
