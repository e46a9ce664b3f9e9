"""Itemised usage: the records one usage ledger entry charged, for its owner (read-only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.statement import MAX_CURSOR
from models import Account, Billing, LedgerEntry, UsageRecord
from models.ladder import tier_at

#: Most records one usage entry lists.
MAX_ITEMS = 1_000
#: The ladder multiplier (in quarters) in words.
MULTIPLIERS = {4: "x1", 2: "x0.5", 1: "x0.25"}


@dataclass(frozen=True)
class Item:
    """One usage record as charged."""

    key: str
    node: str
    resource_kind: str
    quantity: int
    list_cents: int
    tier: str
    multiplier: str
    charge_quarters: int


@dataclass(frozen=True)
class UsageEntry:
    """A usage ledger entry and its records."""

    entry: LedgerEntry
    items: list[Item]
    total_records: int


def quarters_text(quarters: int) -> str:
    """Quarter-cents as dollars, exact to a quarter of a cent.

    >>> quarters_text(7), quarters_text(400), quarters_text(1)
    ('$0.0175', '$1.00', '$0.0025')
    """
    cents, rest = divmod(quarters, 4)
    text = f"${cents // 100:,}.{cents % 100:02d}"
    return text + ("", "25", "5", "75")[rest]


def usage_entry(address: str, entry_id: int) -> UsageEntry | None:
    """The usage entry *entry_id* with its records, or None when *address* does not own it."""
    if not 0 < entry_id <= MAX_CURSOR:
        return None
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return None
    entry = LedgerEntry.get_or_none(
        (LedgerEntry.id == entry_id)
        & (LedgerEntry.account == account)
        & (LedgerEntry.kind == "usage")
    )
    if entry is None:
        return None
    details: dict[str, Any] = json.loads(entry.details or "{}")
    keys = [k for k in details.get("keys", []) if isinstance(k, str)]
    records = (
        UsageRecord.select()
        .where((UsageRecord.key.in_(keys[:MAX_ITEMS])) & (UsageRecord.account == account))
        .order_by(UsageRecord.occurred_at, UsageRecord.key)
    )
    billing = Billing.get_or_none(Billing.account == account)
    first_paid_at = billing.first_paid_at if billing else None
    items = [
        Item(
            key=r.key,
            node=r.node,
            resource_kind=r.resource_kind,
            quantity=r.quantity,
            list_cents=r.amount_cents,
            tier=tier_at(first_paid_at, r.occurred_at),
            multiplier=MULTIPLIERS.get(r.multiplier_quarters, f"x{r.multiplier_quarters}/4"),
            charge_quarters=r.charge_quarters,
        )
        for r in records
    ]
    return UsageEntry(entry=entry, items=items, total_records=len(keys))
