"""Stripe-format events and signatures, built as Stripe builds them.

Shapes follow stripe-python 16.1.0 (API version ``2026-10-28.endive``): ``stripe/_event.py``
(event envelope and type names), ``stripe/checkout/_session.py``, ``stripe/_charge.py`` and
``stripe/_refund.py``. Current API versions send ``charge.refunded`` with the cumulative
``amount_refunded`` and no ``refunds`` list (Stripe's API changelog, version 2022-11-15: the
charge's ``refunds`` is no longer included by default); ``charge_refunded(refunds=...)``
builds the older shape, where the list object (``object``, ``data``, ``has_more``, ``url``)
came with the charge.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from adapters.payments.stripe_provider import (
    sign_stripe_payload,
)


def _event(event_type: str, obj: dict[str, Any], created: int | None) -> dict[str, Any]:
    return {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "type": event_type,
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def checkout_completed(
    *,
    address: str | None,
    amount_cents: Any,
    payment_intent: str | None = None,
    created: int | None = None,
    payment_status: str = "paid",
    topup_id: str | None = None,
    event_type: str = "checkout.session.completed",
) -> dict[str, Any]:
    """A Checkout Session event; *amount_cents* goes into ``amount_total`` as given."""
    session_id = f"cs_test_{secrets.token_hex(8)}"
    return _event(
        event_type,
        {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "payment_intent": payment_intent
            if payment_intent is not None
            else f"pi_{secrets.token_hex(8)}",
            "payment_status": payment_status,
            "status": "complete",
            "amount_total": amount_cents,
            "currency": "usd",
            "client_reference_id": address,
            "metadata": {"topup_id": topup_id} if topup_id else {},
        },
        created,
    )


def charge_id_of(payment_intent: str) -> str:
    """The charge id the stand-ins give the charge of *payment_intent*."""
    return f"ch_{payment_intent[3:]}"


def charge_refunded(
    *,
    payment_intent: str,
    amount_refunded_cents: Any,
    amount_cents: int | None = None,
    refunds: Sequence[tuple[str, Any] | tuple[str, Any, str]] | None = None,
    has_more: bool = False,
    created: int | None = None,
) -> dict[str, Any]:
    """``charge.refunded``: the current shape, or the older one when *refunds* is given
    (``(id, amount)`` or ``(id, amount, status)``, newest first as Stripe lists them)."""
    charge_id = charge_id_of(payment_intent)
    amount = amount_cents if amount_cents is not None else amount_refunded_cents
    charge: dict[str, Any] = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded_cents,
        "captured": True,
        "currency": "usd",
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": amount_refunded_cents == amount,
        "status": "succeeded",
    }
    if refunds is not None:
        charge["refunds"] = {
            "object": "list",
            "data": [refund_object(r[0], r[1], payment_intent, *r[2:]) for r in refunds],
            "has_more": has_more,
            "url": f"/v1/charges/{charge_id}/refunds",
        }
    return _event("charge.refunded", charge, created)


def refund_object(
    refund_id: str, amount: Any, payment_intent: str, status: str = "succeeded"
) -> dict[str, Any]:
    """A Refund as ``stripe/_refund.py`` describes it."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "charge": charge_id_of(payment_intent),
        "currency": "usd",
        "payment_intent": payment_intent,
        "status": status,
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
        "created": int(time.time()),
    }


def refund_failed(
    *,
    refund_id: str,
    payment_intent: str,
    amount_cents: Any,
    event_type: str = "refund.failed",
    created: int | None = None,
) -> dict[str, Any]:
    """``refund.failed`` (or ``charge.refund.updated`` / ``refund.updated``) for a refund
    whose status turned ``failed``."""
    return _event(
        event_type, refund_object(refund_id, amount_cents, payment_intent, "failed"), created
    )


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


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def near_events(draw: st.DrawFn) -> Any:
    """Real event shapes with fields replaced by arbitrary JSON, at any depth."""
    event = json.loads(json.dumps(draw(st.sampled_from(_valid_templates()))))
    for _ in range(draw(st.integers(1, 3))):
        target = event
        path = draw(st.sampled_from([["type"], ["created"], ["id"], ["data"], ["data", "object"]]))
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            break
        if path == ["type"]:
            target["type"] = draw(EVENT_TYPES)
        elif path == ["data", "object"] and isinstance(target.get("object"), dict):
            obj = target["object"]
            field = draw(st.sampled_from(sorted(obj) + ["metadata", "refunds"]))
            obj[field] = draw(JSON)
        else:
            target[path[-1]] = draw(JSON)
    return event


EVENT_TYPES = st.sampled_from(
    [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "charge.refunded",
        "refund.failed",
        "charge.refund.updated",
        "refund.updated",
        "customer.created",
    ]
)


def _valid_templates() -> list[dict[str, Any]]:
    return [
        checkout_completed(address=ADDRESS, amount_cents=500, topup_id="t1"),
        charge_refunded(payment_intent="pi_a", amount_refunded_cents=500),
        charge_refunded(payment_intent="pi_a", amount_refunded_cents=500, refunds=[("re_1", 500)]),
        refund_failed(refund_id="re_1", payment_intent="pi_a", amount_cents=500),
    ]


ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
