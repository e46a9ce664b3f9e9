"""Stripe: Checkout Sessions through the stripe library, and its signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import stripe
import structlog

from adapters.payments.base import Checkout, WebhookRejected
from adapters.payments.stripe_parse import RefundLister, event_facts
from messages.facts import Fact
from models.errors import PaymentError, ProviderUnavailable

__all__ = ["StripeProvider", "event_facts", "parse_stripe_webhook", "sign_stripe_payload"]

log = structlog.get_logger("hero.stripe")

#: Most refunds of one charge read when following a cut-short list; more is not a real
#: card payment, and the cumulative ``amount_refunded`` is used instead.
MAX_REFUNDS_PER_CHARGE = 1000
#: Largest distance in seconds between a webhook's timestamp and now, either way.
TOLERANCE_S = 300


class StripeProvider:
    """Card payments through Stripe Checkout."""

    name = "stripe"

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        addresses: Any = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(
            secret_key, base_addresses=addresses, max_network_retries=2
        )
        self._webhook_secret = webhook_secret
        self._clock = clock

    def start_checkout(
        self,
        *,
        topup_id: str,
        address: str,
        amount_cents: int,
        return_url: str,
        cancel_url: str,
    ) -> Checkout:
        params: Any = {
            "mode": "payment",
            "client_reference_id": address,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": amount_cents,
                        "product_data": {"name": "Hero credit"},
                    },
                }
            ],
            "metadata": {"topup_id": topup_id, "address": address},
            "payment_intent_data": {"metadata": {"topup_id": topup_id, "address": address}},
            "success_url": return_url,
            "cancel_url": cancel_url,
        }
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"topup-{topup_id}"}
            )
        except stripe.APIConnectionError as exc:
            raise ProviderUnavailable(f"Stripe could not be reached: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe refused the checkout: {exc.user_message}") from exc
        if not session.url:
            raise PaymentError("Stripe returned a checkout session without a URL")
        return Checkout(redirect_url=session.url, provider_ref=session.id)

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Fact]:
        return parse_stripe_webhook(
            body,
            headers,
            secret=self._webhook_secret,
            now=self._clock(),
            list_refunds=self.list_refunds,
        )

    def create_refund(
        self,
        *,
        payment_key: str,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> dict[str, Any]:
        """Ask Stripe to refund *amount_cents* of a payment (``POST /v1/refunds``).

        *payment_key* is the payment intent (``pi_``) or charge (``ch_``) it was credited
        under. The balance is not touched here: Stripe's ``charge.refunded`` webhook does it.

        Raises:
            PaymentError: Stripe refused, or the payment has no intent or charge to refund.
            ProviderUnavailable: Stripe could not be reached (its retries, with the same
                idempotency key, were used up).
        """
        params: Any = {"amount": amount_cents, "metadata": metadata}
        if payment_key.startswith("pi_"):
            params["payment_intent"] = payment_key
        elif payment_key.startswith(("ch_", "py_")):
            params["charge"] = payment_key
        else:
            raise PaymentError(
                f"{payment_key} is neither a payment intent nor a charge; refund it in "
                "Stripe's dashboard"
            )
        try:
            refund = self._client.v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.APIConnectionError as exc:
            raise ProviderUnavailable(f"Stripe could not be reached: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe refused the refund: {exc.user_message}") from exc
        result: dict[str, Any] = refund.to_dict()
        return result

    def list_refunds(self, charge_id: str) -> list[dict[str, Any]] | None:
        """Every refund of *charge_id*, newest first, or None when Stripe cannot say."""
        try:
            page = self._client.v1.refunds.list(params={"charge": charge_id, "limit": 100})
            pages = itertools.islice(page.auto_paging_iter(), MAX_REFUNDS_PER_CHARGE + 1)
            refunds = [refund.to_dict() for refund in pages]
        except stripe.StripeError as exc:
            log.warning("stripe.refunds_unlisted", charge=charge_id, reason=str(exc))
            return None
        if len(refunds) > MAX_REFUNDS_PER_CHARGE:
            log.warning("stripe.refunds_unlisted", charge=charge_id, reason="too many")
            return None
        return refunds


def parse_stripe_webhook(
    body: bytes,
    headers: dict[str, str],
    *,
    secret: str,
    now: float,
    list_refunds: RefundLister | None = None,
) -> list[Fact]:
    """Verify a Stripe-format webhook over its raw *body* and say what it states happened.

    Args:
        list_refunds: fetches a charge's refunds when its list in the event is cut short.

    Raises:
        WebhookRejected: bad, missing or stale signature, a timestamp from the future,
            or a body that is not a Stripe event with every field in bounds.
    """
    header = headers.get("stripe-signature")
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=TOLERANCE_S)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(f"Stripe-Signature: {exc.user_message or exc}") from None
    # stripe only rejects old timestamps; a timestamp from the future is as suspect.
    if _timestamp(header or "") - now > TOLERANCE_S:
        raise WebhookRejected("Stripe-Signature: timestamp is more than 300 s in the future")
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise WebhookRejected(f"body: not JSON ({exc})") from None
    return event_facts(event, list_refunds=list_refunds)


def sign_stripe_payload(body: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header value for *body*, as Stripe computes it."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _timestamp(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0
