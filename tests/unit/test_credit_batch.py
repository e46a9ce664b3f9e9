"""Credit states of a usage batch written together: one read and one upsert of the state
rows whatever the number of accounts, each account's sequence bumped once per batch, the
allowance and the publisher's mark kept, a crossing told once, on SQLite and PostgreSQL;
and two batches on the same accounts at once on PostgreSQL lose no sequence number."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from actors import credit
from actors.credit import Change, record_changes
from actors.ledger import Posting, lock_billing, post_many
from actors.usage import apply_batch
from bench.scratch import mycelium_addresses
from models import Account, Billing, Notification, db, write_transaction
from models.credit import CreditState
from tests.support.sql import statements
from wire.times import utcnow

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite_db", "pg_db"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def accounts(count: int, *, balance: int = 10_000) -> list[Account]:
    made = [Account.create(address=a) for a in mycelium_addresses(count, seed=count)]
    for account in made:
        Billing.create(account=account, balance_cents=balance)
    return made


def charge_each(made: list[Account], cents: int, ref: str) -> None:
    with write_transaction():
        states = lock_billing({int(a.id) for a in made})
        post_many(
            "usage",
            [Posting(int(a.id), cents, f"{ref}:{a.id}", {}, 0) for a in made],
            states,
        )


@pytest.mark.parametrize("count", [3, 60])
def test_a_batch_reads_and_writes_the_state_rows_in_two_statements(
    database: str, count: int
) -> None:
    made = accounts(count)
    charge_each(made, -1, "first")  # rows are created
    with statements("credit_state") as seen:
        charge_each(made, -1, "second")  # rows are updated
    assert len(seen) == 2, seen
    rows = list(CreditState.select())
    assert len(rows) == count
    assert {(r.seq, r.pending, r.balance_cents, r.state) for r in rows} == {(2, True, 9_998, "ok")}


def test_an_account_twice_in_a_batch_keeps_its_last_balance_and_one_sequence(
    database: str,
) -> None:
    (account,) = accounts(1)
    with write_transaction():
        states = record_changes(
            [Change(int(account.id), 700, 500), Change(int(account.id), 300, 500)], now=NOW
        )
    row = CreditState.get()
    assert states == {int(account.id): "low"}
    assert (row.balance_cents, row.seq, row.state) == (300, 1, "low")


def test_the_upsert_keeps_the_allowance_and_the_publisher_s_mark(database: str) -> None:
    (account,) = accounts(1)
    charge_each([account], -1, "a")
    CreditState.update(allowance_cents=10_500, published_seq=1, pending=False).execute()
    charge_each([account], -10_000, "b")  # -1 is above the limit of 0 - 10,500
    row = CreditState.get()
    assert (row.allowance_cents, row.published_seq, row.seq, row.pending) == (10_500, 1, 2, True)
    assert row.state == "low" and row.exhausted_since is None


def test_crossings_in_one_batch_are_told_once_each_and_stays_are_not(database: str) -> None:
    falling, staying, rising, fine = accounts(4, balance=100)
    charge_each([staying, rising], -200, "down")  # two accounts already exhausted
    before = {r.account_id: r for r in CreditState.select()}
    with write_transaction():
        states = lock_billing({int(a.id) for a in (falling, staying, rising, fine)})
        post_many(
            "usage",
            [
                Posting(int(falling.id), -100, "f", {}, 0),
                Posting(int(staying.id), -1, "s", {}, 0),
                Posting(int(rising.id), 10_000, "r", {}, 0),
                Posting(int(fine.id), -1, "o", {}, 0),
            ],
            states,
        )
    rows = {r.account_id: r for r in CreditState.select()}
    assert {a: rows[a.id].state for a in (falling, staying, rising, fine)} == {
        falling: "exhausted",
        staying: "exhausted",
        rising: "ok",
        fine: "low",
    }
    assert rows[staying.id].exhausted_since == before[staying.id].exhausted_since
    assert rows[rising.id].exhausted_since is None and rows[falling.id].exhausted_since
    told = [
        (n.account_id, n.key)  # type: ignore[attr-defined]
        for n in Notification.select().where(Notification.kind == "credit_exhausted")
    ]
    assert sorted(told) == sorted(
        [
            (staying.id, f"{staying.id}:1"),
            (rising.id, f"{rising.id}:1"),
            (falling.id, f"{falling.id}:1"),
        ]
    )


def test_a_suspended_account_lifted_by_a_batch_is_resumed_once(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifted, still = accounts(2, balance=0)
    charge_each([lifted, still], -10, "down")
    CreditState.update(state="suspended", suspended_at=utcnow()).execute()
    resumed: list[tuple[int, int]] = []
    import actors.suspension

    monkeypatch.setattr(
        actors.suspension, "resume", lambda row, cents: resumed.append((row.account_id, cents))
    )
    with write_transaction():
        states = lock_billing({int(lifted.id), int(still.id)})
        post_many(
            "usage",
            [Posting(int(lifted.id), 1_000, "up", {}, 0), Posting(int(still.id), -1, "s", {}, 0)],
            states,
        )
    rows = {r.account_id: r for r in CreditState.select()}
    assert resumed == [(lifted.id, 990)]
    assert (rows[lifted.id].state, rows[lifted.id].suspended_at) == ("ok", None)
    assert rows[still.id].state == "suspended" and rows[still.id].suspended_at is not None


def test_one_account_goes_through_the_same_path(database: str) -> None:
    (account,) = accounts(1, balance=0)
    with write_transaction():
        assert credit.record_change(int(account.id), -5) == "exhausted"
    row = CreditState.get()
    assert (row.state, row.seq, row.balance_cents) == ("exhausted", 1, -5)


def record(i: int, user: str) -> dict[str, Any]:
    return {
        "key": f"node-a:{i}",
        "node": "node-a",
        "user": user,
        "resource_kind": "llm_token",
        "applies_to": "vm",
        "quantity": 100,
        "amount_cents": 1,
        "occurred_at": (NOW - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_batches_on_the_same_accounts_at_once_lose_no_sequence_number(pg_db: str) -> None:
    made = accounts(20)
    users = [str(a.address) for a in made]
    batches = [
        [record(b * 1000 + i, users[(i + b) % len(users)]) for i in range(len(users) * 3)]
        for b in range(8)
    ]
    start = threading.Barrier(len(batches))
    failures: list[BaseException] = []

    def run(batch: list[dict[str, Any]]) -> None:
        try:
            start.wait()
            apply_batch(batch, via="nats", now=NOW)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    rows = {r.account_id: r for r in CreditState.select()}
    billing = {b.account_id: b.balance_cents for b in Billing.select()}
    for account in made:
        assert rows[account.id].seq == len(batches)
        assert rows[account.id].balance_cents == billing[account.id]
