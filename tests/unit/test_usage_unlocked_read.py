"""A usage batch reads its accounts' tenure without a lock, inserts its rows, and only then
locks the billing rows it charges, on PostgreSQL with real threads and connections:
overlapping batches still charge every record once, a first payment landing between the
read and the lock prices the rows from the locked state, an account created in between
loses nothing, and a record the database refuses is still isolated."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

import actors.usage
from actors.ladder import multiplier_quarters, tier_at
from actors.ledger import audit_mismatches, post
from actors.parked import retry_unmatched
from actors.usage import apply_batch
from actors.usage_insert import insert_new
from bench.scratch import mycelium_addresses
from models import (
    Account,
    Billing,
    LedgerEntry,
    UnmatchedItem,
    UsageRecord,
    db,
    write_transaction,
)
from tests.support.races import at_once

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
AT = NOW - dt.timedelta(hours=1)
PAID = NOW - dt.timedelta(days=60)
START_CENTS = 100_000


def rec(seq: int, user: str, *, cents: int = 3, node: str = "node-a") -> dict[str, Any]:
    return {
        "key": f"{node}:{seq}",
        "node": node,
        "user": user,
        "resource_kind": "llm_token",
        "applies_to": "llm",
        "quantity": 100,
        "amount_cents": cents,
        "occurred_at": AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def accounts(count: int, *, seed: int = 7, paid: dt.datetime | None = None) -> list[Account]:
    made = []
    for address in mycelium_addresses(count, seed=seed):
        account = Account.create(address=address)
        with write_transaction():
            post(account, amount_cents=START_CENTS, kind="payment", ref=f"seed:{address}")
        if paid is not None:
            Billing.update(first_paid_at=paid).where(Billing.account == account).execute()
        made.append(account)
    return made


def in_other_thread(call: Callable[[], Any]) -> None:
    """Run *call* on its own connection and wait for it: it must not wait for the batch."""

    def run() -> None:
        try:
            call()
        finally:
            db.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the other transaction waited for the batch's locks"


@pytest.fixture
def after_insert(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], Any]]]:
    """Calls run (on another connection) once the batch's rows are in, before its lock."""
    hooks: list[Callable[[], Any]] = []

    def insert_then(rows: list[dict[str, Any]]) -> set[str]:
        inserted = insert_new(rows)
        while hooks:
            in_other_thread(hooks.pop(0))
        return inserted

    monkeypatch.setattr(actors.usage, "insert_new", insert_then)
    yield hooks


def charged_quarters(account: Account) -> int:
    """The quarter-cents of the applied records of *account*, as priced in usage_record."""
    applied = UsageRecord.select().where(
        (UsageRecord.account == account) & (UsageRecord.status == "applied")
    )
    return sum(int(r.charge_quarters) for r in applied)


def test_concurrent_batches_with_overlapping_keys_and_accounts_charge_each_record_once(
    pg_db: str,
) -> None:
    made = accounts(12, paid=PAID)
    users = [str(a.address) for a in made]
    rng = random.Random(5)
    owner = {seq: rng.choice(users) for seq in range(900)}
    for round_ in range(4):
        seqs = [range(0, 600), range(300, 900), range(150, 750)]
        batches = [
            [rec(round_ * 1000 + s, owner[s], cents=1 + s % 5) for s in rng.sample(list(r), len(r))]
            for r in seqs
        ]
        outcomes = at_once(*[partial(apply_batch, b, via="git", now=NOW) for b in batches])
        assert sum(o.inserted for o in outcomes) == 900
    assert UsageRecord.select().count() == 3600
    charged_keys: list[str] = []
    for entry in LedgerEntry.select().where(LedgerEntry.kind == "usage"):
        charged_keys += json.loads(entry.details)["keys"]
    assert len(charged_keys) == len(set(charged_keys)) == 3600
    for account in made:
        billing = Billing.get(Billing.account == account)
        quarters = charged_quarters(account)
        assert billing.balance_cents == START_CENTS - quarters // 4
        assert billing.usage_carry == quarters % 4
    assert audit_mismatches() == []


def test_a_first_payment_between_the_read_and_the_lock_prices_the_rows_it_moved(
    pg_db: str, after_insert: list[Callable[[], Any]]
) -> None:
    (account,) = accounts(1)  # not paid yet: full price
    user = str(account.address)
    unpaid = multiplier_quarters(tier_at(None, AT), "llm")
    tenured = multiplier_quarters(tier_at(PAID, AT), "llm")
    assert unpaid != tenured

    def first_payment() -> None:
        with write_transaction():
            post(account, amount_cents=500, kind="payment", ref="first", paid_at=PAID)

    after_insert.append(first_payment)

    outcome = apply_batch([rec(i, user, cents=4) for i in range(10)], via="git", now=NOW)

    assert outcome.inserted == 10
    rows = list(UsageRecord.select())
    assert {(r.multiplier_quarters, r.charge_quarters) for r in rows} == {(tenured, 4 * tenured)}
    billing = Billing.get(Billing.account == account)
    assert billing.balance_cents == START_CENTS + 500 - (40 * tenured) // 4
    assert outcome.charged_cents == (40 * tenured) // 4
    assert audit_mismatches() == []


def test_a_payment_that_does_not_move_the_first_one_changes_no_price(
    pg_db: str, after_insert: list[Callable[[], Any]]
) -> None:
    (account,) = accounts(1, paid=PAID)
    tenured = multiplier_quarters(tier_at(PAID, AT), "llm")

    def later_payment() -> None:
        with write_transaction():
            post(account, amount_cents=500, kind="payment", ref="later", paid_at=NOW)

    after_insert.append(later_payment)

    apply_batch([rec(i, str(account.address), cents=4) for i in range(10)], via="git", now=NOW)

    assert {r.multiplier_quarters for r in UsageRecord.select()} == {tenured}
    assert Billing.get(Billing.account == account).first_paid_at == PAID
    assert audit_mismatches() == []


def test_an_account_created_between_the_read_and_the_lock_is_parked_then_charged_once(
    pg_db: str, after_insert: list[Callable[[], Any]]
) -> None:
    (known,) = accounts(1, paid=PAID)
    (late_address,) = mycelium_addresses(1, seed=99)

    def sign_up() -> None:
        account = Account.create(address=late_address)
        Billing.create(account=account, balance_cents=1000, first_paid_at=PAID)

    after_insert.append(sign_up)
    batch = [rec(1, late_address, cents=8), rec(2, str(known.address), cents=8)]

    outcome = apply_batch(batch, via="git", now=NOW)

    assert (outcome.inserted, outcome.unmatched) == (2, 1)
    (item,) = UnmatchedItem.select().where(UnmatchedItem.resolved_at.is_null())
    assert item.ref == "node-a:1"
    assert retry_unmatched(item) == "charged"
    assert retry_unmatched(UnmatchedItem.get_by_id(item.id)) == "already_resolved"
    late = Account.get(Account.address == late_address)
    tenured = multiplier_quarters(tier_at(PAID, AT), "llm")
    assert Billing.get(Billing.account == late).balance_cents == 1000 - (8 * tenured) // 4
    assert UsageRecord.get(UsageRecord.key == "node-a:1").status == "applied"
    assert apply_batch(batch, via="nats", now=NOW).inserted == 0


def test_a_record_the_database_refuses_is_isolated_and_the_others_charged(pg_db: str) -> None:
    made = accounts(3, paid=PAID)
    db.execute_sql(
        "CREATE FUNCTION refuse_three() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.key = 'node-a:3' THEN RAISE check_violation USING MESSAGE = 'refused'; END IF; "
        "RETURN NEW; END $$"
    )
    db.execute_sql(
        "CREATE TRIGGER refuse_three BEFORE INSERT ON usage_record "
        "FOR EACH ROW EXECUTE FUNCTION refuse_three()"
    )
    try:
        batch = [rec(i, str(made[i % 3].address), cents=4) for i in range(1, 12)]

        outcome = apply_batch(batch, via="git", now=NOW)

        assert (outcome.inserted, outcome.rejected, outcome.duplicates) == (10, 1, 0)
        assert "node-a:3" not in {r.key for r in UsageRecord.select()}
        assert sum(charged_quarters(a) for a in made) == 10 * 4
        assert audit_mismatches() == []
    finally:
        db.execute_sql("DROP TRIGGER refuse_three ON usage_record")
        db.execute_sql("DROP FUNCTION refuse_three()")
