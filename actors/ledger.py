"""The one way a balance changes: a ledger entry and the balance, in one transaction.

Callers hold ``write_transaction()``. Nothing else in the code base updates
``Billing.balance_cents``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import peewee

from models import Account, Billing, LedgerEntry, Notification, db, utcnow

#: A debit that takes the balance below this (from at or above it) notifies the user.
LOW_BALANCE_CENTS = 500


@dataclass(frozen=True)
class Posted:
    """A ledger entry written, with the balance it left."""

    entry_id: int
    amount_cents: int
    balance_after_cents: int


def billing_for(account: Account) -> Billing:
    """The billing row of *account*, created (at zero) when missing."""
    Billing.insert(account=account, updated_at=utcnow()).on_conflict(
        action="NOTHING", conflict_target=[Billing.account]
    ).execute()
    return Billing.get(Billing.account == account)


def post(
    account: Account | int,
    *,
    amount_cents: int,
    kind: str,
    ref: str,
    details: dict[str, Any] | None = None,
    paid_cents: int = 0,
    paid_at: dt.datetime | None = None,
    extra: dict[peewee.Field, Any] | None = None,
) -> Posted | None:
    """Change *account*'s balance by *amount_cents* and write the ledger entry explaining it.

    Args:
        amount_cents: signed change of the balance.
        kind: one of ``LEDGER_KINDS``.
        ref: unique together with *kind*; a second post with the same pair changes nothing.
        paid_cents: change of ``lifetime_paid_cents`` (payments and refunds).
        paid_at: stamped as ``first_paid_at`` when the account has none yet.
        extra: further ``Billing`` columns to set in the same statement.

    Returns:
        What was posted, or None when (kind, ref) was already in the ledger.
    """
    account_id = account if isinstance(account, int) else int(account.id)
    entry = _insert_entry(account_id, amount_cents, kind, ref, details)
    if entry is None:
        known = LedgerEntry.select().where((LedgerEntry.kind == kind) & (LedgerEntry.ref == ref))
        if known.exists():
            return None
        billing_for(Account.get_by_id(account_id) if isinstance(account, int) else account)
        entry = _insert_entry(account_id, amount_cents, kind, ref, details)
        assert entry is not None, "billing row exists and the ref is new"
    entry_id, balance_after = entry
    changes: dict[peewee.Field, Any] = {
        Billing.balance_cents: Billing.balance_cents + amount_cents,
        Billing.overdrawn: (Billing.balance_cents + amount_cents) < 0,
        Billing.updated_at: utcnow(),
    }
    if paid_cents:
        changes[Billing.lifetime_paid_cents] = Billing.lifetime_paid_cents + paid_cents
    if paid_at is not None:
        changes[Billing.first_paid_at] = peewee.fn.COALESCE(Billing.first_paid_at, paid_at)
    changes.update(extra or {})
    Billing.update(changes).where(Billing.account == account_id).execute()
    if amount_cents < 0 and balance_after < LOW_BALANCE_CENTS <= balance_after - amount_cents:
        Notification.insert(
            account=account_id,
            kind="low_balance",
            key=f"{account_id}:{entry_id}",
            payload=json.dumps({"balance_cents": balance_after}),
            created_at=utcnow(),
        ).on_conflict(
            action="NOTHING", conflict_target=[Notification.kind, Notification.key]
        ).execute()
    return Posted(entry_id=entry_id, amount_cents=amount_cents, balance_after_cents=balance_after)


def _insert_entry(
    account_id: int, amount_cents: int, kind: str, ref: str, details: dict[str, Any] | None
) -> tuple[int, int] | None:
    """Insert the ledger entry with the balance it leaves, computed from the billing row,
    which PostgreSQL locks here (SQLite's write transaction already holds the only lock).

    Returns:
        (entry id, balance after), or None when (kind, ref) exists or there is no billing row.
    """
    p = db.obj.param
    lock = " FOR UPDATE" if db.obj.for_update else ""
    cursor = db.execute_sql(
        "INSERT INTO ledger_entry "
        "(account_id, amount_cents, kind, ref, balance_after_cents, created_at, details) "
        f"SELECT account_id, {p}, {p}, {p}, balance_cents + {p}, {p}, {p} "
        f"FROM billing WHERE account_id = {p}{lock} "
        "ON CONFLICT (kind, ref) DO NOTHING RETURNING id, balance_after_cents",
        (
            amount_cents,
            kind,
            ref,
            amount_cents,
            utcnow(),
            json.dumps(details or {}, sort_keys=True, default=str),
            account_id,
        ),
    )
    row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else None


def audit_mismatches() -> list[dict[str, Any]]:
    """Accounts whose balance differs from the sum of their ledger, or whose last entry's
    ``balance_after_cents`` differs from the balance. Empty means the books agree."""
    rows = db.execute_sql(
        """
        SELECT a.address, b.balance_cents, COALESCE(l.total, 0), last.balance_after_cents
        FROM billing b
        JOIN account a ON a.id = b.account_id
        LEFT JOIN (SELECT account_id, SUM(amount_cents) AS total
                   FROM ledger_entry GROUP BY account_id) l ON l.account_id = b.account_id
        LEFT JOIN ledger_entry last ON last.id = (
            SELECT MAX(id) FROM ledger_entry e WHERE e.account_id = b.account_id)
        """
    ).fetchall()
    problems = []
    for address, balance, total, last_after in rows:
        if balance != total or (last_after is not None and last_after != balance):
            problems.append(
                {
                    "address": address,
                    "balance_cents": int(balance),
                    "ledger_sum_cents": int(total),
                    "last_balance_after_cents": None if last_after is None else int(last_after),
                }
            )
    return problems
