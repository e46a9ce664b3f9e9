"""The ledger's one write path keeps every balance an exact integer within its bounds."""

from __future__ import annotations

import pytest

from actors.ledger import (
    Posting,
    audit_mismatches,
    lock_billing,
    post,
    post_many,
)
from models import Account, Billing, LedgerEntry, db, write_transaction
from models.money import MAX_BALANCE_CENTS, MAX_ENTRY_CENTS, AmountOutOfBounds

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.fixture
def account(sqlite_db: str) -> Account:
    return Account.create(address=USER)


def pay(account: Account, cents: int, ref: str) -> object:
    with write_transaction():
        return post(account, amount_cents=cents, kind="payment", ref=ref)


def test_two_payments_of_2_to_the_62_leave_an_exact_balance_and_a_passing_audit(
    account: Account,
) -> None:
    with pytest.raises(AmountOutOfBounds, match="amount_cents"):
        pay(account, 2**62, "p1")
    with pytest.raises(AmountOutOfBounds, match="amount_cents"):
        pay(account, 2**62, "p2")
    balance = db.execute_sql("SELECT balance_cents FROM billing").fetchone()
    assert balance is None or (type(balance[0]) is int and balance[0] == 0)
    assert LedgerEntry.select().count() == 0
    assert audit_mismatches() == []


def test_an_entry_that_would_pass_the_balance_bound_is_refused_and_writes_nothing(
    account: Account,
) -> None:
    pay(account, MAX_BALANCE_CENTS - 5, "p1")
    with pytest.raises(AmountOutOfBounds, match="outside the bound"):
        pay(account, 6, "p2")
    pay(account, 5, "p3")
    assert Billing.get().balance_cents == MAX_BALANCE_CENTS
    assert [e.ref for e in LedgerEntry.select().order_by(LedgerEntry.id)] == ["p1", "p3"]
    assert audit_mismatches() == []


def test_a_debit_below_minus_the_bound_is_refused(account: Account) -> None:
    with write_transaction():
        post(account, amount_cents=-MAX_BALANCE_CENTS, kind="usage", ref="u1")
    with pytest.raises(AmountOutOfBounds), write_transaction():
        post(account, amount_cents=-1, kind="usage", ref="u2")
    assert Billing.get().balance_cents == -MAX_BALANCE_CENTS


@pytest.mark.parametrize("amount", [1.5, "12", True, MAX_ENTRY_CENTS + 1, 10**23])
def test_an_amount_that_is_not_bounded_whole_cents_is_refused_naming_the_field(
    account: Account, amount: object
) -> None:
    with pytest.raises(AmountOutOfBounds, match="^amount_cents: "):
        pay(account, amount, "p1")  # type: ignore[arg-type]
    assert LedgerEntry.select().count() == 0


def test_a_replayed_ref_is_still_a_no_op_near_the_bound(account: Account) -> None:
    pay(account, MAX_BALANCE_CENTS, "p1")
    assert pay(account, MAX_BALANCE_CENTS, "p1") is None
    assert Billing.get().balance_cents == MAX_BALANCE_CENTS


def test_a_batch_with_one_posting_past_the_bound_writes_nothing(account: Account) -> None:
    pay(account, -MAX_BALANCE_CENTS + 10, "p1")
    with pytest.raises(AmountOutOfBounds, match="outside the bound"), write_transaction():
        states = lock_billing({account.id})
        post_many(
            "usage",
            [
                Posting(account.id, -5, "u1", {}, 0),
                Posting(account.id, -6, "u2", {}, 0),
            ],
            states,
        )
    assert Billing.get().balance_cents == -MAX_BALANCE_CENTS + 10
    assert LedgerEntry.select().count() == 1


def test_the_audit_reports_a_ledger_sqlite_cannot_sum_instead_of_failing(
    account: Account,
) -> None:
    # Given a database written before the bounds: two entries of 2**62 and a float balance
    pay(account, 1, "p0")
    for ref in ("p1", "p2"):
        LedgerEntry.create(
            account=account, amount_cents=2**62, kind="payment", ref=ref, balance_after_cents=0
        )
    db.execute_sql("UPDATE billing SET balance_cents = balance_cents + ? + ?", (2**62, 2**62))

    problems = audit_mismatches()

    assert [p["ledger_sum_cents"] for p in problems] == [2**63 + 1]
