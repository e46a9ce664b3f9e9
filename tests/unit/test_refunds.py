"""Refunds on SQLite: one debit whatever the shape and order, failed refunds given back once,
never more than the payment, and paid tenure without fully refunded payments."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from actors.ledger import audit_mismatches
from actors.parked import retry_unmatched
from actors.payments import PaymentFact, PermanentPaymentError, credit_payment
from actors.refunds import credit_back_refund, debit_refund
from gateway.dashboard import reason
from models import Account, Alert, Billing, LedgerEntry, UnmatchedItem

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
PAID_AT = 1_790_000_000


@pytest.fixture
def account(sqlite_db: str) -> Account:
    account = Account.create(address=ADDRESS)
    pay("pi_1", 3000)
    return account


def pay(key: str, amount: int, paid_at: int = PAID_AT) -> None:
    fact = PaymentFact(
        provider="stripe",
        payment_key=key,
        address=ADDRESS,
        amount_cents=amount,
        currency="usd",
        paid_at=paid_at,
    )
    assert credit_payment(fact) == "credited"


def cumulative(total: int, key: str = "pi_1") -> str:
    return debit_refund(
        provider="stripe",
        payment_key=key,
        charge_id=f"ch_{key}",
        amount_refunded_cents=total,
        refunds=None,
        refunded_at=PAID_AT + 100,
    )


def listed(*refunds: tuple[str, int] | tuple[str, int, str], key: str = "pi_1") -> str:
    items = [{"id": r[0], "amount_cents": r[1], "status": (r[2:] or ("succeeded",))[0]}
             for r in refunds]  # fmt: skip
    return debit_refund(
        provider="stripe",
        payment_key=key,
        charge_id=f"ch_{key}",
        amount_refunded_cents=sum(
            r["amount_cents"]
            for r in items
            if type(r["amount_cents"]) is int and r["amount_cents"] > 0 and r["status"] != "failed"
        ),
        refunds=items,
        refunded_at=PAID_AT + 100,
    )


def failed(refund_id: str, amount: int, key: str = "pi_1") -> str:
    return credit_back_refund(
        provider="stripe",
        payment_key=key,
        refund_id=refund_id,
        amount_cents=amount,
        failed_at=PAID_AT + 200,
    )


def balance() -> int:
    return int(Billing.get().balance_cents)


def refund_entries() -> list[int]:
    rows = LedgerEntry.select().where(LedgerEntry.kind == "refund").order_by(LedgerEntry.id)
    return [int(e.amount_cents) for e in rows]


def test_list_then_cumulative_debits_once(account: Account) -> None:
    assert listed(("re_1", 1000)) == "debited"
    assert cumulative(1000) == "duplicate"
    assert refund_entries() == [-1000] and balance() == 2000


def test_cumulative_then_list_debits_once(account: Account) -> None:
    assert cumulative(1000) == "debited"
    assert listed(("re_1", 1000)) == "duplicate"
    assert refund_entries() == [-1000] and balance() == 2000


def test_mixed_shapes_of_two_refunds_take_each_cent_once(account: Account) -> None:
    assert listed(("re_1", 500)) == "debited"
    assert cumulative(800) == "debited"  # re_2 of 300 seen only as the new total
    assert listed(("re_2", 300), ("re_1", 500)) == "duplicate"
    assert cumulative(500) == "duplicate"  # a stale delivery
    assert refund_entries() == [-500, -300] and balance() == 2200
    assert Billing.get().lifetime_paid_cents == 2200
    assert not audit_mismatches()


def test_a_failed_refund_is_credited_back_once(account: Account) -> None:
    cumulative(1000)
    assert failed("re_1", 1000) == "credited"
    assert failed("re_1", 1000) == "duplicate"
    assert listed(("re_1", 1000, "failed")) == "duplicate"  # the list says the same
    assert cumulative(1000) == "duplicate"  # a stale snapshot does not debit again
    assert refund_entries() == [-1000, 1000] and balance() == 3000
    assert not audit_mismatches()


def test_a_failed_refund_in_a_list_is_credited_back(account: Account) -> None:
    assert listed(("re_2", 200, "failed"), ("re_1", 500)) == "debited"
    assert refund_entries() == [-700, 200] and balance() == 2500
    assert failed("re_2", 200) == "duplicate"


def test_a_failure_seen_before_its_refund_waits_parked_then_applies(account: Account) -> None:
    assert failed("re_1", 400) == "unmatched"
    assert balance() == 3000
    cumulative(400)
    item = UnmatchedItem.get(UnmatchedItem.source == "refund")
    assert retry_unmatched(item) == "credited"
    assert balance() == 3000 and refund_entries() == [-400, 400]


def test_a_refund_over_what_remains_of_the_payment_is_capped_and_parked(account: Account) -> None:
    assert cumulative(2500) == "debited"
    assert listed(("re_2", 1000), ("re_1", 2500)) == "over_refund"
    assert refund_entries() == [-2500, -500] and balance() == 0
    parked = UnmatchedItem.get(UnmatchedItem.source == "refund_excess")
    assert "500 cents more than remains" in parked.reason
    assert Alert.get(Alert.kind == "refund_over_payment").subject == "pi_1"
    assert cumulative(3500) == "duplicate"  # the same excess again parks nothing new
    assert UnmatchedItem.select().where(UnmatchedItem.source == "refund_excess").count() == 1
    assert retry_unmatched(parked) == "unsupported"  # an operator decides


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("amount_refunded_cents", lambda: cumulative(10.99)),  # type: ignore[arg-type]
        ("amount_refunded_cents", lambda: cumulative(True)),
        ("amount_refunded_cents", lambda: cumulative(2**63)),
        ("amount_refunded_cents", lambda: cumulative(-1)),
        ("refunds\\[0\\].amount_cents", lambda: listed(("re_1", -100))),
        ("refunds\\[0\\].amount_cents", lambda: listed(("re_1", "100"))),  # type: ignore[arg-type]
        ("amount_cents", lambda: failed("re_1", 2**63)),
        ("amount_cents", lambda: failed("re_1", 0)),
    ],
)
def test_a_refund_with_a_bad_amount_is_refused_and_moves_nothing(
    account: Account, field: str, call: Any
) -> None:
    with pytest.raises(PermanentPaymentError, match=field):
        call()
    assert balance() == 3000 and refund_entries() == []


def utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _stamp() -> dt.datetime | None:
    value: dt.datetime | None = Billing.get().first_paid_at
    return value


def test_a_fully_refunded_only_payment_leaves_no_paid_tenure(account: Account) -> None:
    Billing.update(discount_tier="month").execute()
    cumulative(3000)
    billing = Billing.get()
    assert billing.first_paid_at is None and billing.discount_tier == "none"


def test_paid_tenure_moves_to_the_first_payment_not_fully_refunded(account: Account) -> None:
    pay("pi_2", 1000, paid_at=PAID_AT + 86400 * 10)
    first = _stamp()
    cumulative(2999)  # partial: tenure unchanged
    assert _stamp() == first
    cumulative(3000)
    assert _stamp() == utc(PAID_AT + 86400 * 10)  # pi_2's time
    failed("re_1", 3000)  # the refund failed: pi_1 counts again
    assert _stamp() == first


def test_a_later_payment_after_a_full_refund_starts_tenure_again(account: Account) -> None:
    cumulative(3000)
    pay("pi_3", 500, paid_at=PAID_AT + 86400 * 40)
    assert _stamp() == utc(PAID_AT + 86400 * 40)


def test_the_statement_says_a_failed_refund_was_credited_back(account: Account) -> None:
    cumulative(1000)
    failed("re_1", 1000)
    rows = LedgerEntry.select().where(LedgerEntry.kind == "refund").order_by(LedgerEntry.id)
    assert [reason(e) for e in rows] == ["Refund to your card", "Refund failed: credited back"]
