"""What operators read: accounts, nodes, alerts, the VM pool, ledger and audit pages.

One copy each, read by ``hero-admin`` (``cli.admin_*``) and the web console
(``gateway.console``): the two show the same rows.
"""

from __future__ import annotations

import json
from typing import Any

from models import Account, AdminAudit, Alert, Billing, LedgerEntry, Node, VmAllocation, VmPoolSlot
from models.plans import active_plan
from wire.times import iso_z, utcnow

#: Rows a ledger or audit page shows unless asked otherwise.
PAGE_ROWS = 50


def user_summary(account: Account) -> dict[str, Any]:
    """What ``user show --json`` prints for *account*."""
    billing = Billing.get_or_none(Billing.account == account)
    plan = active_plan(account, utcnow())
    return {
        "address": account.address,
        "email": account.email,
        "balance_cents": billing.balance_cents if billing else 0,
        "lifetime_paid_cents": billing.lifetime_paid_cents if billing else 0,
        "first_paid_at": _iso(billing.first_paid_at) if billing else None,
        "discount_tier": billing.discount_tier if billing else "none",
        "overdrawn": bool(billing.overdrawn) if billing else False,
        "plan_id": plan.plan_id if plan else None,
        "plan_period_end": _iso(plan.period_end) if plan else None,
        "vm_quota_total": plan.vm_quota_total if plan else 0,
        "vm_quota_used": plan.vm_quota_used if plan else 0,
        "created_at": _iso(account.created_at),
    }


def node_rows() -> list[dict[str, Any]]:
    """The registered nodes and their cursors (``node list``, the console)."""
    return [
        {
            "name": n.name,
            "repo": n.repo_url,
            "pubkey": n.pubkey_hex,
            "cursor": n.cursor_commit,
            "cursor_updated_at": _iso(n.cursor_updated_at),
        }
        for n in Node.select().order_by(Node.name)
    ]


def alert_rows(include_resolved: bool) -> list[dict[str, Any]]:
    """Open alerts, and resolved ones too when *include_resolved* (``alerts``)."""
    query = Alert.select().order_by(Alert.id)
    if not include_resolved:
        query = query.where(Alert.resolved_at.is_null())
    return [
        {
            "id": a.id,
            "kind": a.kind,
            "subject": a.subject,
            "message": a.message,
            "created_at": _iso(a.created_at),
            "details": json.loads(a.details),
        }
        for a in query
    ]


def pool_rows() -> list[dict[str, Any]]:
    """The VM pool and who holds each VM (``pool list``, the console)."""
    holders = {
        a.slot_id: a.account.address
        for a in VmAllocation.select(VmAllocation, Account)
        .join(Account)
        .where(VmAllocation.released_at.is_null())
    }
    return [
        {"vm_id": s.vm_id, "address": s.address, "status": s.status, "held_by": holders.get(s.id)}
        for s in VmPoolSlot.select().order_by(VmPoolSlot.id)
    ]


def ledger_page(
    account: Account, *, limit: int = PAGE_ROWS, before: int | None = None
) -> dict[str, Any]:
    """A page of *account*'s ledger, newest first, and the id to ask for the next one."""
    query = LedgerEntry.select().where(LedgerEntry.account == account)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    rows = list(query.order_by(LedgerEntry.id.desc()).limit(limit + 1))
    entries = [
        {
            "id": e.id,
            "created_at": _iso(e.created_at),
            "kind": e.kind,
            "amount_cents": int(e.amount_cents),
            "balance_after_cents": int(e.balance_after_cents),
            "ref": e.ref,
            "reason": _json(e.details).get("reason"),
        }
        for e in rows[:limit]
    ]
    next_before = entries[-1]["id"] if len(rows) > limit else None
    return {"address": account.address, "entries": entries, "next_before": next_before}


def audit_page(
    *, limit: int = PAGE_ROWS, before: int | None = None, action: str | None = None
) -> dict[str, Any]:
    """A page of the operator audit, newest first, and the id to ask for the next one."""
    query = AdminAudit.select()
    if before is not None:
        query = query.where(AdminAudit.id < before)
    if action:
        query = query.where(AdminAudit.action == action)
    rows = list(query.order_by(AdminAudit.id.desc()).limit(limit + 1))
    items = [audit_row(a) for a in rows[:limit]]
    return {"rows": items, "next_before": items[-1]["id"] if len(rows) > limit else None}


def audit_row(row: AdminAudit) -> dict[str, Any]:
    """One audit row; ``operator`` is the console operator's address, or the signing key."""
    args = _json(row.args)
    return {
        "id": row.id,
        "created_at": _iso(row.created_at),
        "action": row.action,
        "operator": args.get("operator") or row.operator_pubkey,
        "operator_pubkey": row.operator_pubkey,
        "outcome": row.outcome,
        "refusal": row.reason,
        "reason": args.get("reason"),
        "args": args,
        "result": _json(row.result),
    }


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _iso(value: Any) -> str | None:
    return iso_z(value) if value is not None else None
