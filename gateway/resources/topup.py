"""Top-ups: start one with a provider, then watch it until its webhook has credited it.

A form with a mistake comes back as the same page, its values kept and the problem next
to the field; the API gets a 400 whose description starts with the field's name.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import falcon

import messages
from adapters.payments import PaymentProvider
from adapters.payments.base import Checkout
from gateway import forms
from gateway.auth.middleware import require_login, viewer
from gateway.errors import wants_json
from gateway.policy import Policy
from gateway.resources.kyc import refuse_unverified
from gateway.templates import Renderer
from gateway.topups_view import unpaid_topups
from models import Account, TopUp
from models.money import format_cents, parse_cents
from wire.times import utcnow

#: Smallest and largest top-up accepted, in cents.
MIN_TOPUP_CENTS = 100
MAX_TOPUP_CENTS = 100_000
#: Amounts offered as one-click choices, in cents.
PRESET_CENTS = (500, 1000, 2500, 5000)
#: What a bad amount is told, whatever was wrong with it.
AMOUNT_PROBLEM = (
    f"Enter an amount between {format_cents(MIN_TOPUP_CENTS)} and "
    f"{format_cents(MAX_TOPUP_CENTS)}, in dollars and cents like 12.50"
)


def new_topup_id() -> str:
    """A top-up id: unguessable, and letters and digits only (ClickPesa order references)."""
    return "HERO" + secrets.token_hex(10).upper()


def parse_topup_amount(raw: str | None) -> int:
    """Parse the amount field of the form, in dollars.

    Raises:
        ValueError: in plain words (``AMOUNT_PROBLEM``).
    """
    if not raw:
        raise ValueError(AMOUNT_PROBLEM)
    try:
        cents = parse_cents(raw)
    except ValueError:
        raise ValueError(AMOUNT_PROBLEM) from None
    if not MIN_TOPUP_CENTS <= cents <= MAX_TOPUP_CENTS:
        raise ValueError(AMOUNT_PROBLEM)
    return cents


def account_being_set_up() -> falcon.HTTPConflict:
    """The answer for a logged-in address whose account the workers have not created yet."""
    return falcon.HTTPConflict(
        title="Your account is being set up",
        description="Your login worked; your account is still being created. "
        "Try again in a moment.",
    )


@dataclass
class TopUpForm:
    """What the form held, and the problem of each field that had one."""

    amount: str = "10.00"
    custom_amount: str = ""
    provider: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    amount_cents: int = 0


def read_form(data: dict[str, Any], providers: Mapping[str, PaymentProvider]) -> TopUpForm:
    """The top-up form of a request, checked field by field."""
    form = TopUpForm(
        amount=forms.text(data, "amount", max_chars=32),
        custom_amount=forms.text(data, "custom_amount", max_chars=32),
        provider=forms.text(data, "provider", max_chars=32),
    )
    if form.provider not in providers:
        form.errors["provider"] = f"Choose how to pay: {', '.join(sorted(providers))}"
    try:
        form.amount_cents = parse_topup_amount(form.custom_amount or form.amount)
    except ValueError as exc:
        form.errors["amount"] = str(exc)
    return form


class TopUpStart:
    """``GET /topup`` shows the form and the unpaid top-ups; ``POST /topup`` starts a
    checkout and redirects to it.

    Both need a session: the top-up is for the logged-in address, never a form field.
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, PaymentProvider],
        send: messages.Send,
        renderer: Renderer,
        public_url: str,
        policy: Policy,
    ) -> None:
        self.providers = providers
        self.send = send
        self._renderer = renderer
        self._public_url = public_url
        self._policy = policy

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp, TopUpForm(provider=min(self.providers, default="")))

    def render(
        self, req: falcon.Request, resp: falcon.Response, form: TopUpForm, **extra: Any
    ) -> None:
        """The top-up page with *form*'s values and problems, and the unpaid top-ups."""
        now = utcnow()
        cancelled = req.get_param("cancelled") or ""
        looks = _looks(req)
        unpaid = unpaid_topups(req.context.address, now=now)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "topup.html",
            viewer=viewer(req),
            account_ready=Account.select().where(Account.address == req.context.address).exists(),
            providers=sorted(self.providers),
            presets=PRESET_CENTS,
            min_cents=MIN_TOPUP_CENTS,
            max_cents=MAX_TOPUP_CENTS,
            form=form,
            unpaid=unpaid,
            cancelled=cancelled,
            cancelling=any(t.public_id == cancelled and t.pending for t in unpaid),
            # Each look is a new address: a refresh to the same one with a #fragment is
            # only a scroll in browsers, and the page would never look again.
            next_look=f"/topup?{urlencode({'cancelled': cancelled, 'look': looks + 1})}#unpaid"
            if looks < MAX_LOOKS
            else "",
            **extra,
        )

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = read_form(forms.body(req), self.providers)
        if form.errors:
            if wants_json(req):
                name, problem = next(iter(form.errors.items()))
                raise falcon.HTTPBadRequest(
                    title="Check the form", description=f"{name}: {problem}"
                )
            resp.status = falcon.HTTP_400
            self.render(req, resp, form)
            return
        if not Account.select().where(Account.address == req.context.address).exists():
            raise account_being_set_up()
        refuse_unverified(req, "topup", required_for=self._policy.kyc_required_for)
        topup_id, checkout = self.start(req.context.address, form.provider, form.amount_cents)
        if wants_json(req):
            resp.status = falcon.HTTP_201
            resp.media = {"topup_id": topup_id, "redirect_url": checkout.redirect_url}
            return
        raise falcon.HTTPSeeOther(checkout.redirect_url)

    def start(self, address: str, provider_name: str, amount_cents: int) -> tuple[str, Checkout]:
        """Record a new top-up, open its checkout with the provider, and remember where.

        Raises:
            BrokerUnavailable: a message was not confirmed (nothing is charged).
            ProviderUnavailable, PaymentError: the provider did not open a checkout.
        """
        topup_id = new_topup_id()
        self.send(
            messages.RecordTopup(
                public_id=topup_id,
                address=address,
                provider=provider_name,
                amount_cents=amount_cents,
                provider_ref=None,
            )
        )
        checkout = self.providers[provider_name].start_checkout(
            topup_id=topup_id,
            address=address,
            amount_cents=amount_cents,
            return_url=f"{self._public_url}/topups/{topup_id}",
            cancel_url=f"{self._public_url}/topup",
        )
        self.send(
            messages.NoteCheckout(
                public_id=topup_id,
                address=address,
                provider_ref=checkout.provider_ref,
                checkout_url=checkout.redirect_url,
            )
        )
        return topup_id, checkout


#: Refreshes (one a second) of a top-up being cancelled before the page stops looking.
MAX_LOOKS = 60


def _looks(req: falcon.Request) -> int:
    raw = req.get_param("look") or "0"
    return min(int(raw), MAX_LOOKS) if raw.isdigit() and len(raw) < 6 else 0


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
