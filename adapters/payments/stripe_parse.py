"""Stripe events to payment and refund facts, every field checked before anything is queued.

The shapes follow stripe-python 16.1.0 (API version ``2026-10-28.endive``): ``stripe/_event.py``
(event types), ``stripe/checkout/_session.py`` (``amount_total``, ``payment_status``),
``stripe/_charge.py`` (``amount_refunded``; ``refunds`` is a list object that current API
versions no longer include unless expanded) and ``stripe/_refund.py`` (``amount``,
``status``: pending, requires_action, succeeded, failed or canceled).

A refund arrives in one of two shapes: the charge with its ``refunds`` list (older API
versions), or the charge with only the cumulative ``amount_refunded`` (current ones). The
parser passes both on; ``actors.refunds`` makes them debit the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.payments.base import WebhookRejected
from messages.facts import (
    ChargeRefunded,
    Fact,
    PaymentFailed,
    PaymentSettled,
    RefundFailed,
)
from models.money import MAX_PAYMENT_CENTS

#: Longest Stripe object or event id accepted (Stripe's own are under 70 characters).
MAX_ID_LENGTH = 100
#: Longest top-up id read from a session's metadata (``TopUp.public_id``).
MAX_TOPUP_ID_LENGTH = 40
#: Event times accepted, Unix seconds: 2001-09-09 to 2286-11-20.
EVENT_TIME_RANGE_S = (1_000_000_000, 10_000_000_000)
#: Refund statuses after which the money is back with the merchant: credited back.
FAILED_REFUND_STATUSES = ("failed", "canceled")

#: Fetches every refund of a charge, as plain dicts, or None when Stripe cannot say.
RefundLister = Callable[[str], list[dict[str, Any]] | None]


def event_facts(event: object, *, list_refunds: RefundLister | None = None) -> list[Fact]:
    """The facts a verified Stripe *event* states (none for other event types).

    Args:
        event: the decoded JSON body.
        list_refunds: used when a charge's ``refunds`` list says ``has_more``; without it,
            or when it returns None, the cumulative ``amount_refunded`` is the only truth.

    Raises:
        WebhookRejected: naming the field and what is wrong with it.
    """
    event = _mapping(event, "event")
    kind = _string(event, "type", "event")
    obj = _mapping(event.get("data"), "data")
    obj = _mapping(obj.get("object"), "data.object")
    created = _bounded_int(event, "created", "event", EVENT_TIME_RANGE_S)
    event_id = _string(event, "id", "event")
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        return _checkout_paid(obj, created, event_id)
    if kind == "checkout.session.async_payment_failed":
        return [
            PaymentFailed(
                provider="stripe",
                topup_id=_topup_id(obj),
                payment_key=_payment_key(obj, "data.object"),
                reason="async payment failed",
            )
        ]
    if kind == "charge.refunded":
        return [_charge_refunded(obj, created, event_id, list_refunds)]
    if kind in ("refund.failed", "refund.updated", "charge.refund.updated"):
        refund = _refund(obj, "data.object")
        if refund["status"] not in FAILED_REFUND_STATUSES:
            return []
        return [_failed_refund(obj, refund, created, event_id)]
    return []


def _checkout_paid(obj: Mapping[str, Any], created: int, event_id: str) -> list[Fact]:
    if obj.get("payment_status") != "paid":
        return []
    currency = obj.get("currency") or "usd"
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise WebhookRejected(f"data.object.currency: not a 3-letter code: {currency!r}")
    address = obj.get("client_reference_id")
    if address is not None and (not isinstance(address, str) or len(address) > 200):
        raise WebhookRejected("data.object.client_reference_id: not a string of 200 or less")
    return [
        PaymentSettled(
            provider="stripe",
            payment_key=_payment_key(obj, "data.object"),
            address=address,
            amount_cents=cents(obj.get("amount_total"), "data.object.amount_total"),
            currency=currency.lower(),
            paid_at=created,
            topup_id=_topup_id(obj),
            event_id=event_id,
        )
    ]


def _charge_refunded(
    charge: Mapping[str, Any], created: int, event_id: str, list_refunds: RefundLister | None
) -> Fact:
    charge_id = _id(charge, "id", "data.object")
    refunded = cents(charge.get("amount_refunded"), "data.object.amount_refunded", minimum=0)
    refunds: list[dict[str, Any]] | None = None
    listed = charge.get("refunds")
    if listed is not None:
        listed = _mapping(listed, "data.object.refunds")
        data = listed.get("data")
        if not isinstance(data, list):
            raise WebhookRejected("data.object.refunds.data: not a list")
        refunds = [_refund(r, f"data.object.refunds.data[{i}]") for i, r in enumerate(data)]
        if listed.get("has_more") is True:
            fetched = list_refunds(charge_id) if list_refunds else None
            refunds = (
                None
                if fetched is None
                else [_refund(r, f"refunds of {charge_id}[{i}]") for i, r in enumerate(fetched)]
            )
    return ChargeRefunded(
        provider="stripe",
        payment_key=_payment_key(charge, "data.object"),
        charge_id=charge_id,
        amount_refunded_cents=refunded,
        refunds=refunds,
        refunded_at=created,
        event_id=event_id,
    )


def _failed_refund(
    obj: Mapping[str, Any], refund: dict[str, Any], created: int, event_id: str
) -> Fact:
    payment_key = obj.get("payment_intent") or obj.get("charge")
    if payment_key is None:
        raise WebhookRejected("data.object: a refund with neither payment_intent nor charge")
    return RefundFailed(
        provider="stripe",
        payment_key=_id({"payment_intent": payment_key}, "payment_intent", "data.object"),
        refund_id=refund["id"],
        amount_cents=refund["amount_cents"],
        failed_at=created,
        event_id=event_id,
    )


def cents(value: object, field: str, *, minimum: int = 1) -> int:
    """*value* as cents when it is a JSON integer from *minimum* to ``MAX_PAYMENT_CENTS``.

    >>> cents(1099, "amount_total")
    1099

    Raises:
        WebhookRejected: for a float, a boolean, a string or an amount out of bounds.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookRejected(f"{field}: must be an integer number of cents, not {value!r}")
    if not minimum <= value <= MAX_PAYMENT_CENTS:
        raise WebhookRejected(f"{field}: {value} is outside {minimum}..{MAX_PAYMENT_CENTS} cents")
    return value


def _refund(value: object, where: str) -> dict[str, Any]:
    refund = _mapping(value, where)
    status = refund.get("status", "succeeded")
    if not isinstance(status, str) or len(status) > 32:
        raise WebhookRejected(f"{where}.status: not a refund status: {status!r}")
    return {
        "id": _id(refund, "id", where),
        "amount_cents": cents(refund.get("amount"), f"{where}.amount"),
        "status": status,
    }


def _payment_key(obj: Mapping[str, Any], where: str) -> str:
    if obj.get("payment_intent") in (None, ""):  # none yet: the session (or charge) id
        return _id(obj, "id", where)
    return _id(obj, "payment_intent", where)


def _topup_id(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise WebhookRejected("data.object.metadata: not an object")
    topup = metadata.get("topup_id")
    if topup is None:
        return None
    if not isinstance(topup, str) or not 0 < len(topup) <= MAX_TOPUP_ID_LENGTH:
        raise WebhookRejected(
            f"data.object.metadata.topup_id: not a string of 1..{MAX_TOPUP_ID_LENGTH}"
        )
    return topup


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookRejected(f"{where}: not a JSON object")
    return value


def _string(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookRejected(f"{where}.{key}: missing or not a string")
    return value


def _id(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _string(obj, key, where)
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise WebhookRejected(f"{where}.{key}: not an id of {MAX_ID_LENGTH} printable characters")
    return value


def _bounded_int(obj: Mapping[str, Any], key: str, where: str, bounds: tuple[int, int]) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookRejected(f"{where}.{key}: must be an integer, not {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise WebhookRejected(f"{where}.{key}: {value} is outside {bounds[0]}..{bounds[1]}")
    return value
