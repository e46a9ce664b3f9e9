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

from models import Account, Billing, LedgerEntry, db, utcnow


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
    account: Account,
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
    billing_for(account)
    # Lock the billing row first: every poster of this account serialises here, so
    # balance_after_cents is always the true running balance.
    if db.obj.for_update:
        Billing.select(Billing.id).where(Billing.account == account).for_update().execute()
    placeholder = (
        LedgerEntry.insert(
            account=account,
            amount_cents=amount_cents,
            kind=kind,
            ref=ref,
            balance_after_cents=0,
            details=json.dumps(details or {}, sort_keys=True, default=str),
            created_at=utcnow(),
        )
        .on_conflict(action="NOTHING", conflict_target=[LedgerEntry.kind, LedgerEntry.ref])
        .as_rowcount()
        .execute()
    )
    if placeholder == 0:
        return None
    changes: dict[peewee.Field, Any] = {
        Billing.balance_cents: Billing.balance_cents + amount_cents,
        Billing.lifetime_paid_cents: Billing.lifetime_paid_cents + paid_cents,
        Billing.overdrawn: (Billing.balance_cents + amount_cents) < 0,
        Billing.updated_at: utcnow(),
    }
    if paid_at is not None:
        changes[Billing.first_paid_at] = peewee.fn.COALESCE(Billing.first_paid_at, paid_at)
    changes.update(extra or {})
    row = (
        Billing.update(changes)
        .where(Billing.account == account)
        .returning(Billing.balance_cents)
        .execute()
    )
    balance_after = next(iter(row)).balance_cents
    entry = LedgerEntry.get((LedgerEntry.kind == kind) & (LedgerEntry.ref == ref))
    LedgerEntry.update(balance_after_cents=balance_after).where(
        LedgerEntry.id == entry.id
    ).execute()
    return Posted(entry_id=entry.id, amount_cents=amount_cents, balance_after_cents=balance_after)


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
