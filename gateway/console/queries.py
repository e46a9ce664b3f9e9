"""What the console's pages show, read straight from the database (as ``hero-admin`` reads)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee

from models import (
    Account,
    Alert,
    Billing,
    Notification,
    PaymentEvent,
    PlanSubscription,
    UnmatchedItem,
    UsageRecord,
    VmAllocation,
    VmPoolSlot,
)
from models.admin_reads import alert_rows, node_rows, pool_rows, user_summary
from models.kyc_gate import status_of as kyc_status
from wire.times import utcnow

#: Rows a list shows.
LIST_ROWS = 100
#: Longest search text.
MAX_SEARCH_CHARS = 200


def accounts(search: str) -> list[dict[str, Any]]:
    """Accounts whose address or email contains *search* (all when it is empty)."""
    query = Account.select(Account, Billing).join(Billing, peewee.JOIN.LEFT_OUTER)
    text = search.strip()[:MAX_SEARCH_CHARS].lower()
    if text:
        pattern = f"%{text}%"
        query = query.where(
            peewee.fn.LOWER(Account.address) ** pattern
            | peewee.fn.LOWER(peewee.fn.COALESCE(Account.email, "")) ** pattern
        )
    rows = []
    for account in query.order_by(Account.id.desc()).limit(LIST_ROWS):
        billing = getattr(account, "billing", None)
        rows.append(
            {
                "address": account.address,
                "email": account.email,
                "balance_cents": int(billing.balance_cents) if billing else 0,
            }
        )
    return rows


def account_detail(account: Account, *, kyc_required_for: str) -> dict[str, Any]:
    """Everything one account's page shows but its ledger (its verification judged against
    *kyc_required_for*, ``HERO_KYC_REQUIRED_FOR``)."""
    payments = [
        payment_row(p)
        for p in PaymentEvent.select()
        .where(PaymentEvent.account == account)
        .order_by(PaymentEvent.id.desc())
        .limit(LIST_ROWS)
    ]
    plans = [
        {
            "plan_id": p.plan_id,
            "status": p.status,
            "price_cents": int(p.price_cents),
            "vms": f"{p.vm_quota_used}/{p.vm_quota_total}",
            "vm_quota_total": int(p.vm_quota_total),
            "started_at": p.started_at,
            "period_end": p.period_end,
        }
        for p in PlanSubscription.select()
        .where(PlanSubscription.account == account)
        .order_by(PlanSubscription.id.desc())
        .limit(LIST_ROWS)
    ]
    vms = [
        {
            "vm_id": a.slot.vm_id,
            "address": a.slot.address,
            "since": a.created_at,
            "released_at": a.released_at,
        }
        for a in VmAllocation.select(VmAllocation, VmPoolSlot)
        .join(VmPoolSlot)
        .where(VmAllocation.account == account)
        .order_by(VmAllocation.id.desc())
        .limit(LIST_ROWS)
    ]
    notifications = [
        {"kind": n.kind, "created_at": n.created_at, "sent_at": n.sent_at}
        for n in Notification.select()
        .where(Notification.account == account)
        .order_by(Notification.id.desc())
        .limit(LIST_ROWS)
    ]
    alerts = [
        {"id": a.id, "kind": a.kind, "message": a.message, "resolved_at": a.resolved_at}
        for a in Alert.select()
        .where(Alert.subject.contains(account.address) | Alert.details.contains(account.address))
        .order_by(Alert.id.desc())
        .limit(LIST_ROWS)
    ]
    return {
        "summary": user_summary(account),
        "payments": payments,
        "plans": plans,
        "vms": vms,
        "kyc": kyc_status(account, required_for=kyc_required_for, history=True),
        "notifications": notifications,
        "alerts": alerts,
    }


def payment_row(p: PaymentEvent) -> dict[str, Any]:
    return {
        "id": p.id,
        "provider": p.provider,
        "kind": p.kind,
        "key": p.key,
        "address": p.address,
        "amount_cents": int(p.amount_cents),
        "status": p.status,
        "received_at": p.received_at,
        "refundable": p.kind == "payment" and p.provider == "stripe" and p.status == "applied",
    }


def payments() -> list[dict[str, Any]]:
    query = PaymentEvent.select().order_by(PaymentEvent.id.desc()).limit(LIST_ROWS)
    return [payment_row(p) for p in query]


def unmatched() -> list[dict[str, Any]]:
    query = UnmatchedItem.select().where(UnmatchedItem.resolved_at.is_null())
    return [
        {
            "id": u.id,
            "source": u.source,
            "ref": u.ref,
            "address": u.address,
            "reason": u.reason,
            "attempts": u.attempts,
            "created_at": u.created_at,
        }
        for u in query.order_by(UnmatchedItem.id).limit(LIST_ROWS)
    ]


def nodes(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Nodes with their cursor, when it last moved, and what NATS saw that git has not."""
    moment = now or utcnow()
    waiting: dict[str, int] = dict(
        UsageRecord.select(UsageRecord.node, peewee.fn.COUNT(UsageRecord.id))
        .where(UsageRecord.seen_git_at.is_null() & UsageRecord.seen_nats_at.is_null(False))
        .group_by(UsageRecord.node)
        .tuples()  # type: ignore[arg-type]
    )
    rows = []
    for node in node_rows():
        moved = node["cursor_updated_at"]
        since = None
        if moved:
            last = dt.datetime.fromisoformat(moved)
            since = int((moment - last).total_seconds())
        rows.append({**node, "lag_s": since, "nats_only": int(waiting.get(node["name"], 0))})
    return rows


def alerts() -> list[dict[str, Any]]:
    return [{**a, "details": json.dumps(a["details"])[:300]} for a in alert_rows(False)]


def pool() -> list[dict[str, Any]]:
    return pool_rows()
