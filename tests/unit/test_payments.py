"""apply_payment / apply_refund on SQLite: credit once, park the unknown, debit refunds once."""

from __future__ import annotations

from typing import Any

import pytest

from actors.ledger import audit_mismatches
from actors.payments import (
    PaymentFact,
    PermanentPaymentError,
    credit_payment,
    retry_unmatched_payment,
)
from actors.refunds import debit_refund
from models import Account, Billing, LedgerEntry, PaymentEvent, UnmatchedItem

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def fact(**overrides: Any) -> PaymentFact:
    values: dict[str, Any] = dict(
        provider="stripe",
        payment_key="pi_1",
        address=ADDRESS,
        amount_cents=2500,
        currency="usd",
        paid_at=1_790_000_000,
    )
    values.update(overrides)
    return PaymentFact(**values)


@pytest.fixture
def account(sqlite_db: str) -> Account:
    return Account.create(address=ADDRESS)


def balance() -> int:
    return Billing.get().balance_cents


def test_payment_is_credited_once_however_often_it_comes(account: Account) -> None:
    assert credit_payment(fact()) == "credited"
    assert credit_payment(fact()) == "duplicate"
    assert credit_payment(fact(amount_cents=9999)) == "duplicate"
    assert balance() == 2500
    assert LedgerEntry.select().count() == 1
    assert not audit_mismatches()


def test_first_paid_at_is_the_providers_time_and_stamped_once(account: Account) -> None:
    credit_payment(fact())
    credit_payment(fact(payment_key="pi_2", paid_at=1_700_000_000))
    billing = Billing.get()
    assert billing.first_paid_at is not None
    assert billing.first_paid_at.timestamp() == pytest.approx(1_790_000_000, abs=86400)
    assert billing.first_paid_at.isoformat().startswith("2026-09-21")
    assert billing.lifetime_paid_cents == 5000


def test_ledger_entry_carries_the_balance_it_left(account: Account) -> None:
    credit_payment(fact())
    credit_payment(fact(payment_key="pi_2", amount_cents=100))
    assert [e.balance_after_cents for e in LedgerEntry.select().order_by(LedgerEntry.id)] == [
        2500,
        2600,
    ]


def test_unknown_account_is_parked_not_dropped(sqlite_db: str) -> None:
    assert credit_payment(fact()) == "unmatched"
    item = UnmatchedItem.get()
    assert item.source == "payment" and ADDRESS in item.reason
    assert PaymentEvent.get().status == "unmatched"
    assert retry_unmatched_payment(item.id) == "still_unmatched"
    Account.create(address=ADDRESS)
    assert retry_unmatched_payment(item.id) == "credited"
    assert retry_unmatched_payment(item.id) == "already_resolved"
    assert balance() == 2500


def test_non_usd_payment_is_parked_with_the_reason(account: Account) -> None:
    assert credit_payment(fact(currency="eur")) == "unmatched"
    assert "currency" in UnmatchedItem.get().reason


@pytest.mark.parametrize("amount", [0, -5, "12"])
def test_payment_with_a_bad_amount_is_refused_permanently(account: Account, amount) -> None:
    with pytest.raises(PermanentPaymentError, match="amount_cents"):
        credit_payment(fact(amount_cents=amount))


def test_refund_by_id_debits_each_refund_once(account: Account) -> None:
    credit_payment(fact())
    args: dict[str, Any] = dict(
        provider="stripe", payment_key="pi_1", charge_id="ch_1", refunded_at=1_790_000_100
    )
    assert (
        debit_refund(
            amount_refunded_cents=500, refunds=[{"id": "re_1", "amount_cents": 500}], **args
        )
        == "debited"
    )
    assert (
        debit_refund(
            amount_refunded_cents=500, refunds=[{"id": "re_1", "amount_cents": 500}], **args
        )
        == "duplicate"
    )
    assert (
        debit_refund(
            amount_refunded_cents=800,
            refunds=[{"id": "re_1", "amount_cents": 500}, {"id": "re_2", "amount_cents": 300}],
            **args,
        )
        == "debited"
    )
    assert balance() == 1700
    assert Billing.get().lifetime_paid_cents == 1700


def test_cumulative_refunds_take_only_the_difference_in_any_order(account: Account) -> None:
    credit_payment(fact())
    args: dict[str, Any] = dict(
        provider="stripe", payment_key="pi_1", charge_id="ch_1", refunded_at=1, refunds=None
    )
    assert debit_refund(amount_refunded_cents=800, **args) == "debited"
    assert debit_refund(amount_refunded_cents=500, **args) == "duplicate"
    assert debit_refund(amount_refunded_cents=800, **args) == "duplicate"
    assert balance() == 1700
    assert not audit_mismatches()


def test_refund_of_an_unknown_payment_is_parked(account: Account) -> None:
    outcome = debit_refund(
        provider="stripe",
        payment_key="pi_x",
        charge_id="ch_x",
        amount_refunded_cents=100,
        refunds=None,
        refunded_at=1,
    )
    assert outcome == "unmatched"
    assert UnmatchedItem.get().source == "refund"
