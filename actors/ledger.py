"""The one way a balance changes: a ledger entry and the balance, in one transaction.

Callers hold ``write_transaction()``. Nothing else in the code base updates
``Billing.balance_cents``. No entry takes a balance outside ``MAX_BALANCE_CENTS`` either
way: it is refused with ``AmountOutOfBounds`` and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import peewee

from actors.credit import LOW_BALANCE_CENTS as LOW_BALANCE_CENTS
from actors.credit import Change, record_changes
from actors.runway import crossing_payload
from models import Account, Billing, LedgerEntry, db
from models.dialect import lock_clause, param
from models.fields import stored
from models.money import MAX_BALANCE_CENTS, MAX_ENTRY_CENTS, AmountOutOfBounds, check_cents
from models.ops import Notice, notify
from wire.times import utcnow


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

    Raises:
        AmountOutOfBounds: *amount_cents* is not an integer within ``MAX_ENTRY_CENTS``, or
            would take the balance outside ``MAX_BALANCE_CENTS``; nothing was written.
    """
    check_cents("amount_cents", amount_cents, limit=MAX_ENTRY_CENTS)
    check_cents("paid_cents", paid_cents, limit=MAX_ENTRY_CENTS)
    account_id = account if isinstance(account, int) else int(account.id)
    entry = _insert_entry(account_id, amount_cents, kind, ref, details)
    if entry is None:
        known = LedgerEntry.select().where((LedgerEntry.kind == kind) & (LedgerEntry.ref == ref))
        if known.exists():
            return None
        billing = billing_for(
            Account.get_by_id(account_id) if isinstance(account, int) else account
        )
        entry = _insert_entry(account_id, amount_cents, kind, ref, details)
        if entry is None:
            if known.exists():  # a concurrent twin committed the same (kind, ref) first
                return None
            raise AmountOutOfBounds(
                f"amount_cents: {amount_cents} would take the balance of account {account_id} "
                f"from {int(billing.balance_cents)} outside the bound of plus or minus "
                f"{MAX_BALANCE_CENTS} cents; nothing was posted"
            )
    entry_id, balance_after = entry
    now = utcnow()
    changes: dict[peewee.Field, Any] = {
        Billing.balance_cents: Billing.balance_cents + amount_cents,
        Billing.overdrawn: is_overdrawn(balance_after),
        Billing.updated_at: now,
    }
    if paid_cents:
        changes[Billing.lifetime_paid_cents] = Billing.lifetime_paid_cents + paid_cents
    if paid_at is not None:
        changes[Billing.first_paid_at] = peewee.fn.COALESCE(
            Billing.first_paid_at, Billing.first_paid_at.to_value(paid_at)
        )
    changes.update(extra or {})
    Billing.update(changes).where(Billing.account == account_id).execute()
    low = int(
        Billing.select(Billing.low_balance_cents).where(Billing.account == account_id).scalar()
    )
    _settle([_Moved(account_id, entry_id, balance_after - amount_cents, balance_after, low)], now)
    return Posted(entry_id=entry_id, amount_cents=amount_cents, balance_after_cents=balance_after)


def is_overdrawn(balance_cents: int) -> bool:
    """Whether a balance is overdrawn (``Billing.overdrawn``): under zero.

    >>> is_overdrawn(-1), is_overdrawn(0)
    (True, False)
    """
    return balance_cents < 0


@dataclass(frozen=True)
class _Moved:
    """One ledger entry written: the balance it found and the one it left."""

    account_id: int
    entry_id: int
    before_cents: int
    after_cents: int
    low_cents: int


def _settle(moves: list[_Moved], now: dt.datetime) -> None:
    """What follows every balance change, once its entries and billing rows are written:
    each account's credit state from its last balance, and a low-balance notification for
    each entry that took a balance under its owner's threshold, keyed by that entry."""
    record_changes([Change(m.account_id, m.after_cents, m.low_cents) for m in moves], now=now)
    notify(
        *(
            Notice(
                m.account_id,
                "low_balance",
                f"{m.account_id}:{m.entry_id}",
                crossing_payload(
                    m.account_id, balance_cents=m.after_cents, threshold_cents=m.low_cents, now=now
                ),
            )
            for m in moves
            if crosses(m.before_cents, m.after_cents, m.low_cents)
        ),
        now=now,
    )


def crosses(before_cents: int, after_cents: int, low_cents: int) -> bool:
    """Whether a balance going from *before_cents* to *after_cents* falls under the
    threshold *low_cents* (0: the warning is off).

    >>> crosses(600, 400, 500), crosses(400, 300, 500), crosses(600, 400, 0)
    (True, False, False)
    """
    return low_cents > 0 and after_cents < low_cents <= before_cents


def _insert_entry(
    account_id: int, amount_cents: int, kind: str, ref: str, details: dict[str, Any] | None
) -> tuple[int, int] | None:
    """Insert the ledger entry with the balance it leaves, computed from the billing row,
    which PostgreSQL locks here (SQLite's write transaction already holds the only lock).

    Returns:
        (entry id, balance after), or None when (kind, ref) exists, there is no billing
        row, or the balance would leave its bounds.
    """
    p, lock = param(), lock_clause()
    cursor = db.execute_sql(
        "INSERT INTO ledger_entry "
        "(account_id, amount_cents, kind, ref, balance_after_cents, created_at, details) "
        f"SELECT account_id, {p}, {p}, {p}, balance_cents + {p}, {p}, {p} "
        f"FROM billing WHERE account_id = {p} AND balance_cents + {p} BETWEEN {p} AND {p}"
        f"{lock} ON CONFLICT (kind, ref) DO NOTHING RETURNING id, balance_after_cents",
        (
            amount_cents,
            kind,
            ref,
            amount_cents,
            stored(utcnow()),
            json.dumps(details or {}, sort_keys=True, default=str),
            account_id,
            amount_cents,
            -MAX_BALANCE_CENTS,
            MAX_BALANCE_CENTS,
        ),
    )
    row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else None


def audit_mismatches() -> list[dict[str, Any]]:
    """Accounts whose balance differs from the sum of their ledger, or whose last entry's
    ``balance_after_cents`` differs from the balance. Empty means the books agree.

    Sums are exact whatever the database holds: when SQLite cannot sum a ledger in 64 bits
    (only entries written before the balance bounds can do that) they are taken in Python,
    and a value SQLite turned into a float never equals anything.
    """
    try:
        sums = db.execute_sql(
            "SELECT account_id, SUM(amount_cents) FROM ledger_entry GROUP BY account_id"
        ).fetchall()
        totals = {int(a): t for a, t in sums}
    except (peewee.OperationalError, peewee.DataError):
        totals = {}
        for a, amount in db.execute_sql("SELECT account_id, amount_cents FROM ledger_entry"):
            totals[int(a)] = totals.get(int(a), 0) + int(amount)
    rows = db.execute_sql(
        """
        SELECT b.account_id, a.address, b.balance_cents, last.balance_after_cents
        FROM billing b
        JOIN account a ON a.id = b.account_id
        LEFT JOIN ledger_entry last ON last.id = (
            SELECT MAX(id) FROM ledger_entry e WHERE e.account_id = b.account_id)
        """
    ).fetchall()
    problems = []
    for account_id, address, balance, last in rows:
        total = totals.get(int(account_id), 0)
        if not _same(balance, total) or (last is not None and not _same(last, balance)):
            problems.append(
                {
                    "address": address,
                    "balance_cents": int(balance),
                    "ledger_sum_cents": int(total),
                    "last_balance_after_cents": None if last is None else int(last),
                }
            )
    return problems


def _same(a: Any, b: Any) -> bool:
    return not isinstance(a, float) and not isinstance(b, float) and int(a) == int(b)


@dataclass(frozen=True)
class BillingState:
    """An account's billing row as read under its lock."""

    account_id: int
    balance_cents: int
    usage_carry: int
    first_paid_at: dt.datetime | None
    low_balance_cents: int = LOW_BALANCE_CENTS


@dataclass(frozen=True)
class Posting:
    """One balance change of a batch: the ledger entry and the carry it leaves."""

    account_id: int
    amount_cents: int
    ref: str
    details: dict[str, Any]
    carry_after: int


def lock_billing(account_ids: set[int]) -> dict[int, BillingState]:
    """Lock the billing rows of *account_ids* (in id order; created when missing) and read
    them, in two statements whatever the number of accounts. Caller holds the transaction.
    """
    if not account_ids:
        return {}
    states = _select_billing(account_ids)
    missing = account_ids - states.keys()
    if missing:
        Billing.insert_many(
            [{"account": a, "updated_at": utcnow()} for a in sorted(missing)]
        ).on_conflict(action="NOTHING", conflict_target=[Billing.account]).execute()
        states.update(_select_billing(missing))
    return states


def lock_billing_of(addresses: set[str]) -> dict[str, BillingState]:
    """The billing state of each account of *addresses* (unknown ones left out), its row
    locked in account id order: one statement when every account has its billing row (as
    every account made by signing up has), else ``lock_billing`` for the others too.
    Caller holds the transaction.
    """
    if not addresses:
        return {}
    p = param()
    lock = " FOR UPDATE OF billing" if lock_clause() else ""
    rows = db.execute_sql(
        "SELECT account.address, billing.account_id, billing.balance_cents, "
        "billing.usage_carry, billing.first_paid_at, billing.low_balance_cents "
        "FROM billing JOIN account ON account.id = billing.account_id "
        f"WHERE account.address IN ({', '.join([p] * len(addresses))}) "
        f"ORDER BY billing.account_id{lock}",
        sorted(addresses),
    ).fetchall()
    found = {
        str(r[0]): BillingState(int(r[1]), int(r[2]), int(r[3]), _first_paid(r[4]), int(r[5]))
        for r in rows
    }
    if len(found) < len(addresses):  # unknown addresses, or accounts without a billing row
        others: Any = (
            Account.select(Account.address, Account.id)
            .where(Account.address.in_(sorted(addresses - found.keys())))
            .tuples()
        )
        ids: dict[str, int] = dict(others)
        states = lock_billing(set(ids.values()))
        found.update({address: states[account_id] for address, account_id in ids.items()})
    return found


@dataclass(frozen=True)
class Tenure:
    """What a usage record's multiplier depends on, read WITHOUT a lock: the account and
    when it first paid. Read before the rows go in so no billing lock is held meanwhile;
    ``lock_billing`` reads it again under the lock before anything is charged."""

    account_id: int
    first_paid_at: dt.datetime | None


def read_tenure_of(addresses: set[str]) -> dict[str, Tenure]:
    """The account and first payment of each known address of *addresses*, unlocked, in
    one statement (an account without a billing row yet has not paid)."""
    if not addresses:
        return {}
    p = param()
    rows = db.execute_sql(
        "SELECT account.address, account.id, billing.first_paid_at "
        "FROM account LEFT JOIN billing ON billing.account_id = account.id "
        f"WHERE account.address IN ({', '.join([p] * len(addresses))})",
        sorted(addresses),
    ).fetchall()
    return {str(r[0]): Tenure(int(r[1]), _first_paid(r[2])) for r in rows}


def _select_billing(account_ids: set[int]) -> dict[int, BillingState]:
    p, lock = param(), lock_clause()
    ids = sorted(account_ids)
    rows = db.execute_sql(
        "SELECT account_id, balance_cents, usage_carry, first_paid_at, low_balance_cents "
        "FROM billing "
        f"WHERE account_id IN ({', '.join([p] * len(ids))}) ORDER BY account_id{lock}",
        ids,
    ).fetchall()
    return {
        int(r[0]): BillingState(int(r[0]), int(r[1]), int(r[2]), _first_paid(r[3]), int(r[4]))
        for r in rows
    }


def _first_paid(value: Any) -> dt.datetime | None:
    """A raw ``billing.first_paid_at`` as the column reads it: aware UTC, or None."""
    stamp: dt.datetime | None = Billing.first_paid_at.python_value(value)
    return stamp


def post_many(kind: str, postings: list[Posting], states: dict[int, BillingState]) -> int:
    """Write one ledger entry per posting and move each balance and carry, in one INSERT and
    one UPDATE: the batch form of ``post`` for accounts ``lock_billing`` locked.

    Returns:
        The sum of the amounts posted.

    Raises:
        AmountOutOfBounds: a posting would take a balance outside ``MAX_BALANCE_CENTS``;
            nothing of the batch was written.
    """
    if not postings:
        return 0
    p = param()
    now = utcnow()
    balance = {a: s.balance_cents for a, s in states.items()}
    entries: list[Any] = []
    finals: dict[int, tuple[int, int]] = {}
    befores: list[int] = []
    for posting in postings:
        check_cents("amount_cents", posting.amount_cents, limit=MAX_ENTRY_CENTS)
        before = balance[posting.account_id]
        after = before + posting.amount_cents
        if not -MAX_BALANCE_CENTS <= after <= MAX_BALANCE_CENTS:
            raise AmountOutOfBounds(
                f"amount_cents: {posting.amount_cents} would take the balance of account "
                f"{posting.account_id} from {before} outside the bound of plus or minus "
                f"{MAX_BALANCE_CENTS} cents; nothing was posted"
            )
        balance[posting.account_id] = after
        befores.append(before)
        finals[posting.account_id] = (after, posting.carry_after)
        entries += [
            posting.account_id,
            posting.amount_cents,
            kind,
            posting.ref,
            after,
            str(stored(now)),
            json.dumps(posting.details, sort_keys=True, default=str),
        ]
    row = f"({', '.join([p] * 7)})"
    written = db.execute_sql(
        "INSERT INTO ledger_entry "
        "(account_id, amount_cents, kind, ref, balance_after_cents, created_at, details) "
        f"VALUES {', '.join([row] * len(postings))} RETURNING id, ref",
        entries,
    ).fetchall()
    entry_ids = {str(ref): int(entry_id) for entry_id, ref in written}
    updates: list[Any] = []
    for account_id, (after, carry) in sorted(finals.items()):
        updates += [account_id, after, carry, is_overdrawn(after)]
    db.execute_sql(
        f"UPDATE billing SET balance_cents = v.balance, usage_carry = v.carry, "
        f"overdrawn = v.overdrawn, updated_at = {p} "
        "FROM (SELECT column1 AS account_id, column2 AS balance, column3 AS carry, "
        "column4 AS overdrawn FROM "
        f"(VALUES {', '.join([f'({p}, {p}, {p}, {p})'] * len(finals))}) AS t) AS v "
        "WHERE billing.account_id = v.account_id",
        [str(stored(now)), *updates],
    )
    _settle(
        [
            _Moved(
                posting.account_id,
                entry_ids[posting.ref],
                before,
                before + posting.amount_cents,
                states[posting.account_id].low_balance_cents,
            )
            for posting, before in zip(postings, befores, strict=True)
        ],
        now,
    )
    return sum(posting.amount_cents for posting in postings)
