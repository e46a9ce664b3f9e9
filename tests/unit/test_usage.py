"""apply_usage_batch on SQLite: each record charged once, discounted, exact, overdrawn."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.ledger import audit_mismatches
from actors.parked import retry_unmatched
from actors.usage import apply_batch
from models import Account, Alert, Billing, LedgerEntry, UnmatchedItem, UsageRecord

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
PAID = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)


def rec(
    seq: int,
    *,
    cents: int = 1,
    category: str = "llm",
    user: str = USER,
    at: dt.datetime = NOW - dt.timedelta(hours=1),
    node: str = "node-a",
) -> dict:
    return {
        "key": f"{node}:{seq}",
        "node": node,
        "user": user,
        "resource_kind": "llm_token",
        "applies_to": category,
        "quantity": 100,
        "amount_cents": cents,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@pytest.fixture
def account(sqlite_db: str) -> Account:
    account = Account.create(address=USER)
    Billing.create(account=account, balance_cents=1000, first_paid_at=PAID)
    LedgerEntry.create(
        account=account, amount_cents=1000, kind="payment", ref="seed", balance_after_cents=1000
    )
    return account


def balance() -> int:
    return Billing.get().balance_cents


def test_four_one_cent_llm_records_at_a_quarter_cost_one_cent(account) -> None:
    # tenure at occurred_at is 51 days: month tier, x0.25
    apply_batch([rec(1), rec(2), rec(3)], via="git", now=NOW)
    assert balance() == 1000 and Billing.get().usage_carry == 3
    apply_batch([rec(4)], via="nats", now=NOW)
    assert balance() == 999 and Billing.get().usage_carry == 0
    assert not audit_mismatches()


def test_a_batch_delivered_twice_is_charged_once(account) -> None:
    batch = [rec(i, cents=10, category="vm") for i in range(5)]
    first = apply_batch(batch, via="nats", now=NOW)
    second = apply_batch(batch, via="git", now=NOW)
    assert (first.inserted, second.inserted, second.duplicates) == (5, 0, 5)
    assert balance() == 950
    assert LedgerEntry.select().where(LedgerEntry.kind == "usage").count() == 1


def test_the_multiplier_comes_from_the_records_own_time(account) -> None:
    early = PAID + dt.timedelta(days=3)
    week = PAID + dt.timedelta(days=8)
    apply_batch(
        [
            rec(1, cents=100, at=early),
            rec(2, cents=100, at=week),
            rec(3, cents=100, category="vm", at=week),
        ],
        via="git",
        now=NOW,
    )
    assert balance() == 1000 - 100 - 50 - 100
    assert [r.multiplier_quarters for r in UsageRecord.select().order_by(UsageRecord.key)] == [
        4,
        2,
        4,
    ]


def test_usage_is_charged_below_zero_and_flags_the_account_overdrawn(account) -> None:
    apply_batch([rec(1, cents=1500, category="vm")], via="git", now=NOW)
    billing = Billing.get()
    assert billing.balance_cents == -500 and billing.overdrawn


def test_usage_for_an_unknown_account_is_parked_then_charged_once_it_exists(sqlite_db) -> None:
    outcome = apply_batch([rec(1, cents=40, category="vm")], via="git", now=NOW)
    assert outcome.unmatched == 1
    item = UnmatchedItem.get()
    assert item.source == "usage" and item.ref == "node-a:1"
    assert retry_unmatched(item) == "still_unmatched"
    Account.create(address=USER)
    assert retry_unmatched(UnmatchedItem.get()) == "charged"
    assert retry_unmatched(UnmatchedItem.get()) == "already_resolved"
    assert balance() == -40
    assert not audit_mismatches()


def test_bad_records_are_rejected_with_an_alert_and_the_rest_applied(account) -> None:
    bad = rec(2, cents=5)
    bad["amount_cents"] = -5
    outcome = apply_batch([rec(1, cents=8, category="vm"), bad], via="nats", now=NOW)
    assert (outcome.inserted, outcome.rejected) == (1, 1)
    assert balance() == 992
    assert "amount_cents" in Alert.get().message


def test_a_key_twice_in_one_batch_is_charged_once(account) -> None:
    outcome = apply_batch(
        [rec(1, cents=40, category="vm"), rec(1, cents=40, category="vm")], via="nats", now=NOW
    )
    assert (outcome.inserted, outcome.duplicates) == (1, 1)
    assert balance() == 960


def test_an_out_of_bounds_record_is_quarantined_and_the_others_charged(account) -> None:
    import json

    poison = {**rec(2), "amount_cents": 10**19}
    outcome = apply_batch(
        [rec(1, cents=4), poison, rec(3, cents=4), "junk"],  # type: ignore[list-item]
        via="git",
        now=NOW,
    )

    assert (outcome.inserted, outcome.rejected) == (2, 2)
    assert sorted(r.key for r in UsageRecord.select()) == ["node-a:1", "node-a:3"]
    assert balance() == 1000 - 2  # 8 cents of llm at x0.25
    alert = Alert.get(Alert.kind == "usage_rejected")
    details = json.loads(alert.details)
    assert "amount_cents: 10000000000000000000 is more than the maximum" in details["reasons"][0]
    assert details["records"][0]["amount_cents"] == 10**19
    assert details["records"][1] == "junk"


def test_a_record_the_database_refuses_is_isolated_and_the_others_charged(account) -> None:
    import json

    from models import db

    db.execute_sql(
        "CREATE TRIGGER refuse_three BEFORE INSERT ON usage_record "
        "WHEN NEW.key = 'node-a:3' BEGIN SELECT RAISE(ABORT, 'refused by a check'); END"
    )
    batch = [rec(i, cents=4) for i in range(1, 8)]

    outcome = apply_batch(batch, via="git", now=NOW)

    assert (outcome.inserted, outcome.rejected, outcome.duplicates) == (6, 1, 0)
    assert "node-a:3" not in {r.key for r in UsageRecord.select()}
    assert balance() == 1000 - 6
    alert = Alert.get(Alert.kind == "usage_rejected")
    assert "node-a:3: the database refused it" in alert.message
    assert json.loads(alert.details)["records"][0]["key"] == "node-a:3"
    assert audit_mismatches() == []
