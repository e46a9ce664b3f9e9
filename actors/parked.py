"""Parked items: payments, refunds and usage for accounts (or payments) not known yet,
applied once they are, by an operator (``hero-admin unmatched retry``) or hourly."""

from __future__ import annotations

import json

from actors import RETRY_POLICY, actor
from actors.payments import retry_unmatched_payment
from actors.refunds import credit_back_refund, debit_refund
from models import UnmatchedItem
from wire.times import utcnow


def retry_unmatched(item: UnmatchedItem) -> str:
    """Try once more to apply a parked item; its own transaction."""
    if item.source == "payment":
        return retry_unmatched_payment(item.id)
    if item.source == "usage":
        from actors.usage import apply_parked

        return apply_parked([item])[str(item.id)]
    if item.source == "refund":
        payload = json.loads(item.payload)
        apply = credit_back_refund if "refund_id" in payload else debit_refund
        outcome = apply(**payload)
        if outcome != "unmatched":
            UnmatchedItem.update(resolved_at=utcnow()).where(UnmatchedItem.id == item.id).execute()
        return outcome
    return "unsupported"


@actor(queue_name="payments", **RETRY_POLICY)
def retry_parked_items() -> dict[str, str]:
    """Apply every parked payment and refund whose account or payment now exists."""
    items = UnmatchedItem.select().where(
        UnmatchedItem.resolved_at.is_null()
        & UnmatchedItem.source.in_(["payment", "refund", "usage"])
    )
    return {str(item.id): retry_unmatched(item) for item in items.order_by(UnmatchedItem.id)}
