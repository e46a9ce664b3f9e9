"""apply_usage_batch: usage records to discounted charges, each record charged once.

One transaction per batch. Records are inserted with ``ON CONFLICT (key) DO NOTHING``
and only the ones this transaction inserted are charged, so a batch delivered twice, or
a record arriving over NATS and again from git, costs once. Charges are exact: each
record costs ``amount_cents x multiplier`` quarter-cents, the account pays whole cents
and carries the remainder. One ledger entry per account per batch lists the keys.

Every record is checked again against ``wire.rules`` (whatever path it came by);
one that breaks them is quarantined with a ``usage_rejected`` alert holding the record,
and the others are charged. Should the database still refuse a batch as data (never a
lost connection, which is retried), the batch is split in halves until the record it
refuses is alone, and that one is quarantined: one record never holds the others back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee
import structlog
from peewee import chunked

from actors import RETRY_POLICY, actor
from actors.ladder import LADDER_DENOMINATOR, multiplier_quarters, tier_at
from actors.ledger import BillingState, Posting, Tenure, lock_billing, post_many, read_tenure_of
from actors.usage_insert import INSERT_CHUNK, insert_new
from models import Account, Alert, UnmatchedItem, UsageRecord, write_transaction
from wire.rules import RecordError, UsageIn, format_time, short_repr, validate_record
from wire.times import utcnow

log = structlog.get_logger("hero.usage")

#: The column recording when a record was seen on each path.
SEEN_COLUMNS = {"nats": UsageRecord.seen_nats_at, "git": UsageRecord.seen_git_at}


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did."""

    inserted: int
    duplicates: int
    unmatched: int
    rejected: int
    charged_cents: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


#: What the database raises for a record it refuses as data (retrying cannot help).
DATA_ERRORS = (peewee.DataError, peewee.IntegrityError, peewee.ProgrammingError)


def validate(
    records: Iterable[Any], *, now: dt.datetime
) -> tuple[list[UsageIn], list[str], list[Any]]:
    """Split raw records into valid ones, reasons for the others, and the others."""
    good: list[UsageIn] = []
    bad: list[str] = []
    raw_bad: list[Any] = []
    for raw in records:
        try:
            good.append(validate_record(raw, node=None, now=now))
        except RecordError as exc:
            key = raw.get("key") if isinstance(raw, dict) else None
            bad.append(f"{short_repr(key)}: {exc}")
            raw_bad.append(raw)
    return good, bad, raw_bad


def charge_split(carry_quarters: int, new_quarters: int) -> tuple[int, int]:
    """Whole cents to charge now and the quarter-cents carried after.

    >>> charge_split(0, 4 * 1)      # four 1-cent llm records at x0.25
    (1, 0)
    >>> charge_split(3, 2)
    (1, 1)
    """
    return divmod(carry_quarters + new_quarters, LADDER_DENOMINATOR)


def apply_batch(
    records: list[dict[str, Any]], *, via: str, now: dt.datetime | None = None
) -> BatchOutcome:
    """Insert *records* and charge the new ones; one transaction.

    Raises:
        peewee.DatabaseError: the whole batch is retried (nothing was committed).
    """
    now = now or utcnow()
    checked, bad, raw_bad = validate(records if isinstance(records, list) else [], now=now)
    if not isinstance(records, list):
        bad, raw_bad = ["records: must be a list"], [records]
    first_of_key: dict[str, UsageIn] = {}
    for record in checked:  # a key twice in one batch is one record
        first_of_key.setdefault(record.key, record)
    good = list(first_of_key.values())
    if bad:
        _alert_rejected(bad, raw_bad, via)
    if not good:
        return BatchOutcome(0, 0, 0, len(bad), 0)
    outcome = _apply_isolating(good, via)
    outcome = BatchOutcome(
        inserted=outcome.inserted,
        duplicates=len(checked) - outcome.inserted - outcome.rejected,
        unmatched=outcome.unmatched,
        rejected=len(bad) + outcome.rejected,
        charged_cents=outcome.charged_cents,
    )
    log.info("usage.batch_applied", via=via, **outcome.as_dict())
    return outcome


def _apply_isolating(good: list[UsageIn], via: str) -> BatchOutcome:
    """Apply *good*; on a data error split it in halves so only the refused record stays out."""
    try:
        return _apply_valid(good, via)
    except DATA_ERRORS as exc:
        if len(good) == 1:
            [record] = good
            _alert_rejected(
                [f"{record.key}: the database refused it: {short_repr(str(exc))}"],
                [record.to_json()],
                via,
            )
            return BatchOutcome(0, 0, 0, 1, 0)
        log.warning("usage.batch_split", via=via, records=len(good), error=str(exc)[:200])
        half = len(good) // 2
        a, b = _apply_isolating(good[:half], via), _apply_isolating(good[half:], via)
        return BatchOutcome(
            *(x + y for x, y in zip(a.__dict__.values(), b.__dict__.values(), strict=True))
        )


def _apply_valid(good: list[UsageIn], via: str) -> BatchOutcome:
    """Insert and charge validated, distinct records in one transaction.

    The rows go in before any billing row is locked: a batch of 1000 touches nearly every
    account, and holding their locks through the insert made concurrent batches wait on
    each other. Each row's multiplier is priced from its account's tenure read without a
    lock; once only the new rows are left, their accounts' billing rows are locked (in id
    order) and a row whose account's first payment moved meanwhile is priced again from
    the locked state before it is charged. An address with no account at the read is
    parked, as one whose account is created just after the lock always was.
    """
    stamp = utcnow()
    with write_transaction():
        tenures = read_tenure_of({r.user for r in good})
        rows = [_row(r, tenures.get(r.user), via, stamp) for r in good]
        inserted = insert_new(rows)
        fresh = [row for row in rows if row["key"] in inserted]
        _mark_seen([row["key"] for row in rows if row["key"] not in inserted], via)
        matched = [r for r in fresh if r["account_id"] is not None]
        states = lock_billing({r["account_id"] for r in matched})
        _reprice(matched, states, tenures)
        charged = _charge(matched, via, states)
        unmatched = [r for r in fresh if r["account_id"] is None]
        _park(unmatched)
    return BatchOutcome(
        inserted=len(fresh),
        duplicates=len(good) - len(fresh),
        unmatched=len(unmatched),
        rejected=0,
        charged_cents=charged,
    )


def _reprice(
    rows: list[dict[str, Any]], states: dict[int, BillingState], tenures: dict[str, Tenure]
) -> None:
    """Price *rows* again, in place and in ``usage_record``, where their account's first
    payment under the lock is not the one they were priced from (a payment landed
    between the read and the lock): one UPDATE per new multiplier, none in the usual case.
    """
    read = {t.account_id: t.first_paid_at for t in tenures.values()}
    moved = {a for a, s in states.items() if s.first_paid_at != read.get(a)}
    changed: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        if row["account_id"] not in moved:
            continue
        quarters = _multiplier(states[row["account_id"]].first_paid_at, row)
        if quarters != row["multiplier_quarters"]:
            row["multiplier_quarters"] = quarters
            row["charge_quarters"] = row["amount_cents"] * quarters
            changed[quarters].append(row["key"])
    for quarters, keys in changed.items():
        log.info("usage.repriced", records=len(keys), multiplier_quarters=quarters)
        for chunk in chunked(keys, INSERT_CHUNK):
            UsageRecord.update(
                multiplier_quarters=quarters,
                charge_quarters=UsageRecord.amount_cents * quarters,
            ).where(UsageRecord.key.in_(chunk)).execute()


def _multiplier(first_paid_at: dt.datetime | None, row: dict[str, Any]) -> int:
    """The multiplier (quarters) of a record of *row*'s time and category."""
    return multiplier_quarters(tier_at(first_paid_at, row["occurred_at"]), row["applies_to"])


def _mark_seen(keys: list[str], via: str) -> None:
    """Note that records already known were also seen on path *via*."""
    column = SEEN_COLUMNS.get(via)
    if column is None or not keys:
        return
    for chunk in chunked(keys, INSERT_CHUNK):
        UsageRecord.update({column: utcnow()}).where(
            UsageRecord.key.in_(chunk) & column.is_null()
        ).execute()


def _row(record: UsageIn, account: Tenure | None, via: str, now: dt.datetime) -> dict[str, Any]:
    occurred = record.occurred_at
    quarters = multiplier_quarters(
        tier_at(account.first_paid_at if account else None, occurred), record.applies_to
    )
    return {
        "key": record.key,
        "node": record.node,
        "address": record.user,
        "account_id": account.account_id if account else None,
        "resource_kind": record.resource_kind,
        "applies_to": record.applies_to,
        "quantity": record.quantity,
        "amount_cents": record.amount_cents,
        "occurred_at": occurred,
        "multiplier_quarters": quarters,
        "charge_quarters": record.amount_cents * quarters,
        "status": "applied" if account else "unmatched",
        "via": via,
        "received_at": now,
        "seen_nats_at": now if via == "nats" else None,
        "seen_git_at": now if via == "git" else None,
    }


def _charge(rows: list[dict[str, Any]], via: str, states: dict[int, BillingState]) -> int:
    """Charge the new records of each account: whole cents, the rest carried."""
    by_account: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_account[row["account_id"]].append(row)
    postings = []
    for account_id in sorted(by_account):
        mine = by_account[account_id]
        keys = sorted(r["key"] for r in mine)
        quarters = sum(r["charge_quarters"] for r in mine)
        carry = states[account_id].usage_carry
        cents, carry_after = charge_split(carry, quarters)
        postings.append(
            Posting(
                account_id=account_id,
                amount_cents=-cents,
                ref="usage:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40],
                details={
                    "via": via,
                    "records": len(keys),
                    "charge_quarters": quarters,
                    "carry_before": carry,
                    "carry_after": carry_after,
                    "keys": keys,
                },
                carry_after=carry_after,
            )
        )
    return -post_many("usage", postings, states)


def _park(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    items = [
        {
            "source": "usage",
            "ref": r["key"],
            "address": r["address"],
            "reason": f"no account for address {r['address']}",
            "payload": json.dumps(
                {
                    **r,
                    "occurred_at": format_time(r["occurred_at"]),
                    "received_at": None,
                    "seen_nats_at": None,
                    "seen_git_at": None,
                },
                sort_keys=True,
            ),
            "created_at": utcnow(),
        }
        for r in rows
    ]
    for chunk in chunked(items, INSERT_CHUNK):
        UnmatchedItem.insert_many(chunk).on_conflict(
            action="NOTHING", conflict_target=[UnmatchedItem.source, UnmatchedItem.ref]
        ).execute()


def _alert_rejected(reasons: list[str], raw: list[Any], via: str) -> None:
    """Quarantine: the records (cut to a readable size) and why, in an alert; never charged."""
    log.warning("usage.records_rejected", via=via, count=len(reasons), first=reasons[0])
    Alert.create(
        kind="usage_rejected",
        subject=via,
        message=f"{len(reasons)} usage records rejected; first: {reasons[0]}",
        details=json.dumps(
            {"reasons": reasons[:100], "records": [_quarantined(r) for r in raw[:100]]}
        ),
    )


def _quarantined(raw: Any) -> Any:
    """*raw* as kept in an alert: JSON when it is small, else its cut repr."""
    try:
        text = json.dumps(raw, default=str)
    except (TypeError, ValueError, RecursionError):
        return short_repr(raw)
    return raw if len(text) <= 2000 else text[:2000]


def apply_parked(items: list[UnmatchedItem]) -> dict[str, str]:
    """Charge parked usage records whose account now exists (each once)."""
    results: dict[str, str] = {}
    for item in items:
        account = Account.get_or_none(Account.address == item.address)
        if account is None:
            results[str(item.id)] = "still_unmatched"
            continue
        with write_transaction():
            record = UsageRecord.get(UsageRecord.key == item.ref)
            state = lock_billing({int(account.id)})[int(account.id)]
            tenure = Tenure(state.account_id, state.first_paid_at)
            row = _row(_as_usage_in(record), tenure, record.via, utcnow())
            claimed = (
                UsageRecord.update(
                    status="applied",
                    account=account,
                    multiplier_quarters=row["multiplier_quarters"],
                    charge_quarters=row["charge_quarters"],
                )
                .where((UsageRecord.key == item.ref) & (UsageRecord.status == "unmatched"))
                .execute()
            )
            UnmatchedItem.update(resolved_at=utcnow(), attempts=UnmatchedItem.attempts + 1).where(
                UnmatchedItem.id == item.id
            ).execute()
            if claimed:
                _charge([row], f"{record.via}+retry", {state.account_id: state})
        results[str(item.id)] = "charged" if claimed else "already_resolved"
    return results


def _as_usage_in(record: UsageRecord) -> UsageIn:
    return UsageIn(
        key=record.key,
        node=record.node,
        user=record.address,
        resource_kind=record.resource_kind,
        applies_to=record.applies_to,
        quantity=record.quantity,
        amount_cents=record.amount_cents,
        occurred_at=record.occurred_at,
    )


def deliver_usage(records: list[dict[str, Any]], via: str) -> None:
    """Hand records to apply_usage_batch: applied here without a broker, else a confirmed
    message.

    Raises:
        BrokerUnavailable: the broker did not confirm.
    """
    import actors
    from messages import ApplyUsageBatch

    if actors.is_in_process():
        apply_batch(records, via=via)
    else:
        actors.send(ApplyUsageBatch(records=records, via=via))


@actor(queue_name="usage", **RETRY_POLICY)
def apply_usage_batch(records: list[dict[str, Any]], via: str) -> dict[str, int]:
    """Charge a batch of usage records, each exactly once."""
    return apply_batch(records, via=via).as_dict()
