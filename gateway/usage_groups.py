"""Usage grouped by resource or by day, and what the discount ladder saved (read-only).

Sums are taken by the database over the account's applied usage records, in
quarter-cents (the unit charges are exact in), so a group's charge is exact however many
records it holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee

from models import Account, UsageRecord

#: How the statement may show usage: entry by entry, or summed by resource or by day.
GROUPS = {"entries": "Entries", "resource": "Usage by resource", "day": "Usage by day"}
#: Most groups one page shows (days: the newest first).
MAX_GROUPS = 366
#: A resource kind in words.
RESOURCE_LABELS = {
    "vm_hour": "VM hours",
    "llm_token": "LLM tokens",
    "hero_os_hour": "Hero OS hours",
    "other": "Other",
}


@dataclass(frozen=True)
class Group:
    """The usage records of one resource (or one day), summed."""

    key: str
    label: str
    records: int
    quantity: int
    list_cents: int
    charge_quarters: int

    @property
    def saved_quarters(self) -> int:
        """What the discount took off the list price, in quarter-cents."""
        return self.list_cents * 4 - self.charge_quarters


def parse_group(text: str | None) -> str:
    """The ``group`` query field: ``entries`` (the default), ``resource`` or ``day``.

    >>> parse_group(None), parse_group(" day ")
    ('entries', 'day')

    Raises:
        BadFilter: naming ``group``, for anything else.
    """
    from gateway.statement import BadFilter  # the statement's page imports the dashboard's

    value = (text or "").strip() or "entries"
    if value not in GROUPS:
        raise BadFilter("group", "choose entries, resource or day")
    return value


def usage_groups(
    address: str, *, by: str, start: dt.date | None = None, end: dt.date | None = None
) -> list[Group]:
    """*address*'s applied usage between the UTC days *start* and *end* (inclusive),
    summed by ``resource`` (largest charge first) or by ``day`` (newest first)."""
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return []
    where = (UsageRecord.account == account) & (UsageRecord.status == "applied")
    if start is not None:
        where &= UsageRecord.occurred_at >= dt.datetime.combine(start, dt.time(), dt.UTC)
    if end is not None:
        where &= UsageRecord.occurred_at < dt.datetime.combine(
            end + dt.timedelta(days=1), dt.time(), dt.UTC
        )
    key: Any = peewee.fn.DATE(UsageRecord.occurred_at) if by == "day" else UsageRecord.resource_kind
    charge = peewee.fn.SUM(UsageRecord.charge_quarters)
    rows: list[Any] = list(
        UsageRecord.select(
            key.alias("key"),
            peewee.fn.COUNT(UsageRecord.id),
            peewee.fn.SUM(UsageRecord.quantity),
            peewee.fn.SUM(UsageRecord.amount_cents),
            charge,
        )
        .where(where)
        .group_by(key)
        .order_by(key.desc() if by == "day" else charge.desc())
        .limit(MAX_GROUPS)
        .tuples()
    )
    groups: list[Group] = []
    for group_key, records, quantity, list_cents, quarters in rows:
        text = str(group_key)[:10] if by == "day" else str(group_key)
        label = (
            dt.date.fromisoformat(text).strftime("%a %d %b %Y").replace(" 0", " ")
            if by == "day"
            else RESOURCE_LABELS.get(text, text)
        )
        groups.append(
            Group(text, label, int(records), int(quantity), int(list_cents), int(quarters))
        )
    return groups


@dataclass(frozen=True)
class Savings:
    """What the discount ladder took off usage, in quarter-cents."""

    month_quarters: int
    total_quarters: int


def discount_savings(account_id: int, *, now: dt.datetime) -> Savings:
    """What the discount saved *account_id* in the calendar month (UTC) of *now* and ever."""
    saved = peewee.fn.COALESCE(
        peewee.fn.SUM(UsageRecord.amount_cents * 4 - UsageRecord.charge_quarters), 0
    )
    applied = (UsageRecord.account == account_id) & (UsageRecord.status == "applied")
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = UsageRecord.select(saved).where(applied).scalar()
    month = UsageRecord.select(saved).where(applied & (UsageRecord.occurred_at >= month_start))
    return Savings(month_quarters=int(month.scalar() or 0), total_quarters=int(total or 0))
