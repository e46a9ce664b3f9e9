"""What a user's pages show, read from the database for one address (read-only)."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import peewee

from gateway.charts import DayUsage
from gateway.credit_banner import Banner, credit_banner
from gateway.receipts import provider_of
from gateway.runway import Runway, runway_for
from gateway.usage_groups import Savings, discount_savings
from models import (
    Account,
    Billing,
    LedgerEntry,
    PaymentEvent,
    PlanSubscription,
    UsageRecord,
    VmAllocation,
    VmPoolSlot,
)
from models.ladder import next_tier, tier_at
from models.plans import active_plan

#: Days of usage the chart shows.
CHART_DAYS = 14
#: Ledger entries the dashboard lists.
RECENT_ENTRIES = 15
PROVIDER_WORDS = {
    "stripe": "card",
    "clickpesa": "mobile money",
    "sandbox": "Sandbox (no real money)",
}
TIER_NAMES = {"none": "No discount yet", "week": "Week tier: x0.5", "month": "Month tier: x0.25"}


@dataclass(frozen=True)
class Entry:
    """One ledger line, with the reason in words."""

    at: dt.datetime
    kind: str
    amount_cents: int
    balance_after_cents: int
    reason: str


@dataclass(frozen=True)
class Vm:
    vm_id: str
    address: str | None
    since: dt.datetime


@dataclass
class Dashboard:
    """Everything the dashboard shows for one address."""

    address: str
    exists: bool = False
    email: str | None = None
    balance_cents: int = 0
    overdrawn: bool = False
    lifetime_paid_cents: int = 0
    tier: str = "none"
    tier_label: str = TIER_NAMES["none"]
    next_tier: str | None = None
    days_to_next: int | None = None
    plan: PlanSubscription | None = None
    vms: list[Vm] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    usage: list[DayUsage] = field(default_factory=list)
    credit: Banner | None = None
    runway: Runway | None = None
    savings: Savings | None = None


def reason(entry: LedgerEntry) -> str:
    """A ledger entry's reason in words a user understands."""
    details: dict[str, Any] = json.loads(entry.details or "{}")
    if entry.kind == "payment":
        provider = provider_of(details.get("provider", ""), details.get("payment_key"))
        return f"Top-up by {PROVIDER_WORDS.get(provider, provider or 'payment')}"
    if entry.kind == "refund":
        return "Refund failed: credited back" if entry.amount_cents > 0 else "Refund to your card"
    if entry.kind == "plan_purchase":
        return f"Plan {details.get('plan_id', '')} ({details.get('vms', '?')} VMs)"
    if entry.kind == "usage":
        count = details.get("records", 0)
        return f"Usage: {count} record{'s' if count != 1 else ''} reported by Hero hosts"
    if entry.kind == "adjustment":
        return f"Adjustment by support: {details.get('reason', '')}"
    return entry.kind


def dashboard_for(address: str, *, now: dt.datetime, suspend_after_s: int) -> Dashboard:
    """Read the dashboard of *address* (naive UTC *now*; *suspend_after_s*, the credit grace,
    dates the suspension the credit banner announces)."""
    view = Dashboard(address=address)
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return view
    view.exists = True
    view.email = account.email
    billing = Billing.get_or_none(Billing.account == account)
    if billing is not None:
        view.balance_cents = billing.balance_cents
        view.overdrawn = billing.balance_cents < 0
        view.lifetime_paid_cents = billing.lifetime_paid_cents
        view.tier = tier_at(billing.first_paid_at, now)
        view.tier_label = TIER_NAMES[view.tier]
        upcoming = next_tier(billing.first_paid_at, now)
        if upcoming:
            view.next_tier, view.days_to_next = upcoming
        view.runway = runway_for(
            account.id,
            balance_cents=billing.balance_cents,
            threshold_cents=billing.low_balance_cents,
            now=now,
        )
    view.plan = active_plan(account, now)
    view.vms = [
        Vm(vm_id=a.slot.vm_id, address=a.slot.address, since=a.created_at)
        for a in VmAllocation.select(VmAllocation, VmPoolSlot)
        .join(VmPoolSlot)
        .where((VmAllocation.account == account) & VmAllocation.released_at.is_null())
        .order_by(VmAllocation.id)
    ]
    view.entries = [
        Entry(
            at=e.created_at,
            kind=e.kind,
            amount_cents=e.amount_cents,
            balance_after_cents=e.balance_after_cents,
            reason=reason(e),
        )
        for e in LedgerEntry.select()
        .where(LedgerEntry.account == account)
        .order_by(LedgerEntry.id.desc())
        .limit(RECENT_ENTRIES)
    ]
    view.usage = usage_by_day(account, now=now)
    view.savings = discount_savings(account.id, now=now)
    view.credit = credit_banner(account.id, now=now, suspend_after_s=suspend_after_s)
    return view


def usage_by_day(account: Account, *, now: dt.datetime, days: int = CHART_DAYS) -> list[DayUsage]:
    """Charged cents per day and category over the last *days* days (oldest first)."""
    start = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = peewee.fn.DATE(UsageRecord.occurred_at)
    rows: list[Any] = list(
        UsageRecord.select(
            day.alias("day"),
            UsageRecord.applies_to,
            peewee.fn.SUM(UsageRecord.charge_quarters).alias("quarters"),
        )
        .where(
            (UsageRecord.account == account)
            & (UsageRecord.status == "applied")
            & (UsageRecord.occurred_at >= start)
        )
        .group_by(day, UsageRecord.applies_to)
        .tuples()
    )
    by_day: dict[dt.date, dict[str, int]] = defaultdict(dict)
    for when, category, quarters in rows:
        when = dt.date.fromisoformat(str(when)[:10])
        by_day[when][category] = int(quarters) // 4
    return [
        DayUsage(
            day=start.date() + dt.timedelta(days=i),
            cents=by_day.get(start.date() + dt.timedelta(days=i), {}),
        )
        for i in range(days)
    ]


def payment_history(address: str, *, limit: int = 100) -> list[PaymentEvent]:
    """Payments and refunds of *address*, newest first."""
    return list(
        PaymentEvent.select()
        .where(PaymentEvent.address == address)
        .order_by(PaymentEvent.id.desc())
        .limit(limit)
    )
