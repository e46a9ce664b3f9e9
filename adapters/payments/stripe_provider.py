"""Stripe: Checkout Sessions through the stripe library, and its signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import stripe

from adapters.payments.base import Checkout, WebhookMessage, WebhookRejected
from models.errors import PaymentError, ProviderUnavailable

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

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[WebhookMessage]:
        return parse_stripe_webhook(body, headers, secret=self._webhook_secret, now=self._clock())


def parse_stripe_webhook(
    body: bytes, headers: dict[str, str], *, secret: str, now: float
) -> list[WebhookMessage]:
    """Verify a Stripe-format webhook over its raw *body* and map it to actor messages.

    Raises:
        WebhookRejected: bad, missing or stale signature, a timestamp from the future,
            or a body that is not a Stripe event.
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
        return event_messages(json.loads(body))
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookRejected(f"body: not a Stripe event ({exc!r})") from None


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


def event_messages(event: dict[str, Any]) -> list[WebhookMessage]:
    """The actor messages a verified Stripe event means (none for other event types)."""
    kind = event["type"]
    obj = event["data"]["object"]
    created = int(event["created"])
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if obj.get("payment_status") != "paid":
            return []
        return [
            WebhookMessage(
                "apply_payment",
                {
                    "provider": "stripe",
                    "payment_key": obj.get("payment_intent") or obj["id"],
                    "address": obj.get("client_reference_id"),
                    "amount_cents": int(obj["amount_total"]),
                    "currency": obj.get("currency") or "usd",
                    "paid_at": created,
                    "topup_id": (obj.get("metadata") or {}).get("topup_id"),
                    "event_id": event["id"],
                },
            )
        ]
    if kind == "checkout.session.async_payment_failed":
        return [
            WebhookMessage(
                "record_payment_failure",
                {
                    "provider": "stripe",
                    "topup_id": (obj.get("metadata") or {}).get("topup_id"),
                    "payment_key": obj.get("payment_intent") or obj["id"],
                    "reason": "async payment failed",
                },
            )
        ]
    if kind == "charge.refunded":
        listed = (obj.get("refunds") or {}).get("data")
        refunds = None
        if listed:
            refunds = [
                {"id": r["id"], "amount_cents": int(r["amount"])}
                for r in listed
                if r.get("status", "succeeded") in ("succeeded", "pending")
            ]
        return [
            WebhookMessage(
                "apply_refund",
                {
                    "provider": "stripe",
                    "payment_key": obj.get("payment_intent") or obj["id"],
                    "charge_id": obj["id"],
                    "amount_refunded_cents": int(obj["amount_refunded"]),
                    "refunds": refunds,
                    "refunded_at": created,
                    "event_id": event["id"],
                },
            )
        ]
    return []
