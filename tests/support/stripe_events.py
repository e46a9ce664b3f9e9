"""Stripe-format events and signatures, built as Stripe builds them."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from adapters.payments.stripe_provider import sign_stripe_payload


def checkout_completed(
    *,
    address: str | None,
    amount_cents: int,
    payment_intent: str | None = None,
    created: int | None = None,
    payment_status: str = "paid",
    topup_id: str | None = None,
    event_type: str = "checkout.session.completed",
) -> dict[str, Any]:
    session_id = f"cs_test_{secrets.token_hex(8)}"
    return {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "payment_intent": payment_intent
                if payment_intent is not None
                else f"pi_{secrets.token_hex(8)}",
                "payment_status": payment_status,
                "amount_total": amount_cents,
                "currency": "usd",
                "client_reference_id": address,
                "metadata": {"topup_id": topup_id} if topup_id else {},
            }
        },
    }


def charge_refunded(
    *,
    payment_intent: str,
    amount_refunded_cents: int,
    refunds: list[tuple[str, int]] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    charge: dict[str, Any] = {
        "id": f"ch_{payment_intent[3:]}",
        "object": "charge",
        "payment_intent": payment_intent,
        "amount_refunded": amount_refunded_cents,
        "refunded": True,
    }
    if refunds is not None:
        charge["refunds"] = {
            "object": "list",
            "data": [
                {"id": rid, "amount": amount, "status": "succeeded"} for rid, amount in refunds
            ],
        }
    return {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "type": "charge.refunded",
        "created": created or int(time.time()),
        "data": {"object": charge},
    }


def signed(
    event: dict[str, Any], secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe would post for *event*."""
    body = json.dumps(event).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    return body, {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_stripe_payload(body, secret, stamp),
    }
