"""Credit state: computed from the balance in the transaction that changes it.

``record_changes`` is called by the ledger (``actors.ledger.post`` and ``post_many``) with
the billing rows locked, so the state rows, their sequence numbers and the ledger entries
commit together or not at all; a batch of any size reads and writes its accounts' rows in
one statement each. The row is the outbox that ``runtime.credit_publisher`` puts
into the NATS key-value bucket. A state is one of:

- ``ok``: above the low threshold;
- ``low``: under the account's own threshold (``Billing.low_balance_cents``, by default
  ``LOW_BALANCE_CENTS``) but above its limit;
- ``exhausted``: at or under its limit (``HERO_CREDIT_FLOOR_CENTS`` less the account's
  allowance): hosts start no new work for it;
- ``suspended``: still exhausted, and its VMs were suspended after the grace period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from actors.deps import current
from models import Account, Billing, PlanSubscription, db
from models.accounts import DEFAULT_LOW_BALANCE_CENTS
from models.credit import CreditState
from models.dialect import placeholders
from models.fields import stored
from models.ops import Notice
from models.ops import notify as write_notices
from models.plans import active_plans as active_plans
from wire.times import iso_z, utcnow

#: Under this balance (and above the limit) an account is ``low`` unless its owner chose
#: another threshold (the low-balance email's threshold too).
LOW_BALANCE_CENTS = DEFAULT_LOW_BALANCE_CENTS


@dataclass(frozen=True)
class CreditPolicy:
    """What the states are computed against (from settings, set by entry points)."""

    floor_cents: int = 0
    suspend_after_s: int = 86_400


def policy() -> CreditPolicy:
    """The credit policy this process was built with."""
    return current().credit_policy


def classify(
    balance_cents: int,
    *,
    floor_cents: int,
    allowance_cents: int,
    suspended: bool,
    low_cents: int = LOW_BALANCE_CENTS,
) -> str:
    """The state of an account with *balance_cents* (``low`` under *low_cents*).

    >>> classify(600, floor_cents=0, allowance_cents=0, suspended=False)
    'ok'
    >>> classify(1, floor_cents=0, allowance_cents=0, suspended=False)
    'low'
    >>> classify(0, floor_cents=0, allowance_cents=0, suspended=False)
    'exhausted'
    >>> classify(-50, floor_cents=0, allowance_cents=100, suspended=False)
    'low'
    >>> classify(-50, floor_cents=0, allowance_cents=0, suspended=True)
    'suspended'
    >>> classify(900, floor_cents=0, allowance_cents=0, suspended=False, low_cents=1000)
    'low'
    """
    if balance_cents <= floor_cents - allowance_cents:
        return "suspended" if suspended else "exhausted"
    return "low" if balance_cents < low_cents else "ok"


@dataclass(frozen=True)
class Change:
    """One account's new balance, with its low-balance threshold (``Billing``)."""

    account_id: int
    balance_cents: int
    low_cents: int


def record_change(
    account_id: int,
    balance_cents: int,
    *,
    now: dt.datetime | None = None,
    low_cents: int | None = None,
) -> str:
    """Write *account_id*'s state for its new balance and bump its sequence number.

    *low_cents* is the account's low-balance threshold (read from its billing row when
    the caller has not). The one-account form of ``record_changes``.

    Returns:
        The new state.
    """
    if low_cents is None:
        low = Billing.select(Billing.low_balance_cents).where(Billing.account == account_id)
        low_cents = int(low.scalar() if low.exists() else LOW_BALANCE_CENTS)
    return record_changes([Change(account_id, balance_cents, low_cents)], now=now)[account_id]


def record_changes(changes: list[Change], *, now: dt.datetime | None = None) -> dict[int, str]:
    """Write the states of *changes*' accounts and bump their sequence numbers: one read of
    their state rows and one multi-row upsert, whatever the number of accounts.

    The caller holds the transaction and the accounts' billing row locks. Entering
    ``exhausted`` writes the user's notification, once per crossing; leaving it while
    suspended resumes the account's VMs. An account given twice keeps its last change.

    Returns:
        The new state of each account.
    """
    now = now or utcnow()
    last = {c.account_id: c for c in changes}
    if not last:
        return {}
    ids = sorted(last)
    read: Any = CreditState.select(
        CreditState.account,
        CreditState.allowance_cents,
        CreditState.suspended_at,
        CreditState.seq,
        CreditState.exhausted_since,
    ).where(CreditState.account.in_(ids))
    rows = {int(r[0]): _StateRow(*r) for r in read.tuples()}  # no model per row: batches
    floor = policy().floor_cents
    stamped_now = _stamp(now)
    states: dict[int, str] = {}
    values: list[Any] = []
    notices: list[Notice] = []
    resumed: dict[int, int] = {}
    for account_id in ids:
        change, row = last[account_id], rows.get(account_id)
        allowance = int(row.allowance_cents) if row else 0
        suspended = bool(row and row.suspended_at is not None)
        state = classify(
            change.balance_cents,
            floor_cents=floor,
            allowance_cents=allowance,
            suspended=suspended,
            low_cents=change.low_cents,
        )
        exhausted = state in ("exhausted", "suspended")
        seq = int(row.seq) + 1 if row else 1
        since = (row.exhausted_since if row else None) or now
        values += [
            account_id,
            state,
            change.balance_cents,
            floor,
            allowance,
            seq,
            0,
            True,
            _stamp(since if exhausted else None),
            _stamp(row.suspended_at if row and exhausted else None),
            stamped_now,
        ]
        states[account_id] = state
        if row is not None and suspended and not exhausted:
            resumed[account_id] = change.balance_cents
        if exhausted and (row is None or row.exhausted_since is None):
            notices.append(
                Notice(
                    account_id,
                    "credit_exhausted",
                    f"{account_id}:{seq}",
                    {
                        "balance_cents": change.balance_cents,
                        "limit_cents": floor - allowance,
                        "suspend_after_s": policy().suspend_after_s,
                    },
                )
            )
    before: list[CreditState] = (
        list(
            CreditState.select()
            .where(CreditState.account.in_(sorted(resumed)))
            .order_by(CreditState.account)
        )
        if resumed
        else []
    )
    _upsert(values, len(ids))
    if resumed:
        from actors.suspension import resume  # the ledger sits under plans: no cycle

        for model in before:  # the rows as they were before this change
            resume(model, resumed[int(model.account_id)])
    write_notices(*notices, now=now)
    return states


class _StateRow(NamedTuple):
    """What ``record_changes`` reads of a state row."""

    account_id: int
    allowance_cents: int
    suspended_at: dt.datetime | None
    seq: int
    exhausted_since: dt.datetime | None


#: The columns ``record_changes`` writes, in the order of its values; an existing row
#: keeps its allowance and what the publisher wrote (``published_seq``).
_COLUMNS = (
    "account_id",
    "state",
    "balance_cents",
    "floor_cents",
    "allowance_cents",
    "seq",
    "published_seq",
    "pending",
    "exhausted_since",
    "suspended_at",
    "updated_at",
)


def _upsert(values: list[Any], count: int) -> None:
    """Insert or update *count* state rows in one statement (PostgreSQL and SQLite both
    speak ``ON CONFLICT ... DO UPDATE`` with ``excluded``)."""
    row = f"({placeholders(len(_COLUMNS))})"
    kept = ("account_id", "allowance_cents", "published_seq")
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in kept)
    db.execute_sql(
        f"INSERT INTO credit_state ({', '.join(_COLUMNS)}) "
        f"VALUES {', '.join([row] * count)} "
        f"ON CONFLICT (account_id) DO UPDATE SET {updates}",
        values,
    )


def _stamp(moment: dt.datetime | None) -> str | None:
    """*moment* as the timestamp columns store it, naive UTC (``str``: SQLite's form too)."""
    return None if moment is None else str(stored(moment))


def notify(account_id: int, kind: str, *, crossing: int | str, payload: dict[str, Any]) -> int:
    """Write one notification of *kind* per *crossing* (what identifies the crossing: the
    sequence or the time that entered it); 1 when this call wrote it."""
    return write_notices(Notice(account_id, kind, f"{account_id}:{crossing}", payload))


def payload_of(
    row: CreditState,
    account: Account,
    now: dt.datetime,
    *,
    plans: dict[int, PlanSubscription] | None = None,
) -> dict[str, Any]:
    """What hosts get for *row*: the state, the money, the plan and the sequence number
    (*plans*: ``active_plans`` of a batch of rows, read here when not given)."""
    plans = plans if plans is not None else active_plans([int(row.account_id)], now)
    plan = plans.get(int(row.account_id))
    return {
        "address": account.address,
        "state": row.state,
        "balance_cents": int(row.balance_cents),
        "floor_cents": int(row.floor_cents),
        "allowance_cents": int(row.allowance_cents),
        "plan_id": plan.plan_id if plan else None,
        "vm_quota_total": int(plan.vm_quota_total) if plan else 0,
        "vm_quota_used": int(plan.vm_quota_used) if plan else 0,
        "seq": int(row.seq),
        "changed_at": iso_z(row.updated_at),
    }


def recompute_all() -> int:
    """Write every account's state again (each under its billing row lock) with a new
    sequence number, so a new bucket, a changed floor or a lost bucket gets them all.

    Returns:
        The number of accounts written.
    """
    from models import Billing, db, write_transaction

    ids = [int(b.account_id) for b in Billing.select(Billing.account).order_by(Billing.account)]
    for account_id in ids:
        with write_transaction():
            query = Billing.select().where(Billing.account == account_id)
            if db.obj.for_update:
                query = query.for_update()
            billing = query.get()
            record_change(account_id, int(billing.balance_cents))
    return len(ids)
