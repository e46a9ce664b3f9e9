"""Stripe refunds through the real webhook route and real worker processes: one debit
whatever the shape and order, failed refunds given back once, over-refunds parked, bad
amounts refused before anything is queued."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from models import Account, Alert, Billing, LedgerEntry, PaymentEvent, UnmatchedItem
from tests.support.fake_stripe import fake_stripe
from tests.support.procs import HeroProcess, wait_until
from tests.support.stack import STRIPE_SECRET, Stack
from tests.support.stripe_events import (
    charge_refunded,
    checkout_completed,
    refund_failed,
    signed,
)

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
PAYMENT = "pi_refund_test"


def processed(actor: str) -> tuple[str, str]:
    return ("message.processed", f'"actor_name": "{actor}"')


def post(url: str, event: dict[str, object]) -> requests.Response:
    body, headers = signed(event, STRIPE_SECRET)
    return requests.post(url + "/webhooks/stripe", data=body, headers=headers, timeout=30)


def paid(stack: Stack, amount: int = 3000, **gateway_env: str) -> tuple[str, HeroProcess]:
    """An account paid *amount* through a gateway and a worker of *stack*."""
    account = Account.create(address=ADDRESS)
    Billing.create(account=account)
    url = stack.gateway(**gateway_env)
    worker = stack.worker()
    event = checkout_completed(address=ADDRESS, amount_cents=amount, payment_intent=PAYMENT)
    assert post(url, event).status_code == 200
    worker.wait_lines(*processed("apply_payment"), count=1)
    return url, worker


def balance() -> int:
    return int(Billing.get().balance_cents)


def refund_entries() -> list[int]:
    rows = LedgerEntry.select().where(LedgerEntry.kind == "refund").order_by(LedgerEntry.id)
    return [int(e.amount_cents) for e in rows]


LIST = charge_refunded(
    payment_intent=PAYMENT, amount_refunded_cents=1000, amount_cents=3000, refunds=[("re_1", 1000)]
)
CUMULATIVE = charge_refunded(payment_intent=PAYMENT, amount_refunded_cents=1000, amount_cents=3000)


@pytest.mark.parametrize(
    "order", [(LIST, CUMULATIVE), (CUMULATIVE, LIST)], ids=["list-first", "cumulative-first"]
)
def test_one_refund_delivered_in_both_shapes_debits_once(stack: Stack, order) -> None:
    # Given a paid account
    url, worker = paid(stack)
    # When Stripe's refund comes once in each shape, each shape twice
    for event in [*order, *order]:
        assert post(url, event).status_code == 200
    worker.wait_lines(*processed("apply_refund"), count=4)
    # Then it is debited once
    assert refund_entries() == [-1000]
    assert balance() == 2000


def test_a_failed_refund_delivered_twice_is_credited_back_once(stack: Stack) -> None:
    url, worker = paid(stack)
    assert post(url, CUMULATIVE).status_code == 200
    worker.wait_lines(*processed("apply_refund"), count=1)
    failure = refund_failed(refund_id="re_1", payment_intent=PAYMENT, amount_cents=1000)
    update = refund_failed(
        refund_id="re_1",
        payment_intent=PAYMENT,
        amount_cents=1000,
        event_type="charge.refund.updated",
    )
    for event in (failure, failure, update):
        assert post(url, event).status_code == 200
    worker.wait_lines(*processed("credit_failed_refund"), count=3)
    # A late redelivery of the refund itself does not debit again.
    assert post(url, CUMULATIVE).status_code == 200
    worker.wait_lines(*processed("apply_refund"), count=2)
    assert refund_entries() == [-1000, 1000]
    assert balance() == 3000
    assert PaymentEvent.select().where(PaymentEvent.kind == "refund_failed").count() == 1


def test_a_refund_over_the_payment_is_capped_parked_and_alerted(pg_stack: Stack) -> None:
    url, worker = paid(pg_stack, amount=1000)
    over = charge_refunded(payment_intent=PAYMENT, amount_refunded_cents=1500, amount_cents=1000)
    assert post(url, over).status_code == 200
    worker.wait_lines(*processed("apply_refund"), count=1)
    assert refund_entries() == [-1000]
    assert balance() == 0
    assert UnmatchedItem.get(UnmatchedItem.source == "refund_excess").ref.endswith(":1500")
    alert = Alert.get(Alert.kind == "refund_over_payment")
    assert "500 cents more than remains" in alert.message


@pytest.mark.parametrize(
    "amount", [10.99, True, 2**63, "2500", -2500], ids=["float", "true", "2^63", "string", "neg"]
)
def test_a_payment_with_a_bad_amount_is_refused_and_never_credited(
    pg_stack: Stack, amount: object
) -> None:
    account = Account.create(address=ADDRESS)
    Billing.create(account=account)
    url = pg_stack.gateway()
    worker = pg_stack.worker()
    answer = post(url, checkout_completed(address=ADDRESS, amount_cents=amount))
    assert answer.status_code == 400
    assert "data.object.amount_total" in answer.json()["description"]
    # The next good event is the only one the worker sees.
    assert post(url, checkout_completed(address=ADDRESS, amount_cents=100)).status_code == 200
    worker.wait_lines(*processed("apply_payment"), count=1)
    assert worker.count_lines("message.processed") == 1
    assert balance() == 100


def test_a_refund_list_cut_short_is_completed_from_stripe(pg_stack: Stack) -> None:
    with fake_stripe("sk_test_integration") as fake:
        url, worker = paid(pg_stack, HERO_STRIPE_API_BASE=fake.url)
        for i in range(12):
            fake.add_refund(PAYMENT, f"re_{i:02d}", 100, "failed" if i == 3 else "succeeded")
        newest = [(r["id"], r["amount"], r["status"]) for r in fake.refunds[f"ch_{PAYMENT[3:]}"]]
        event = charge_refunded(
            payment_intent=PAYMENT,
            amount_refunded_cents=1100,
            amount_cents=3000,
            refunds=list(reversed(newest))[:10],
            has_more=True,
        )
        assert post(url, event).status_code == 200
        worker.wait_lines(*processed("apply_refund"), count=1)
    # Twelve refunds of 100 debited, the failed one given back.
    assert sum(refund_entries()) == -1100
    assert refund_entries()[-1] == 100
    assert any("list_refunds" in r for r in fake.requests)


def test_concurrent_deliveries_of_both_shapes_debit_once(pg_stack: Stack) -> None:
    # Given two workers on PostgreSQL
    url, first = paid(pg_stack)
    second = pg_stack.worker("worker-2")
    events = [
        charge_refunded(payment_intent=PAYMENT, amount_refunded_cents=500, amount_cents=3000),
        charge_refunded(
            payment_intent=PAYMENT,
            amount_refunded_cents=800,
            amount_cents=3000,
            refunds=[("re_2", 300), ("re_1", 500)],
        ),
        charge_refunded(payment_intent=PAYMENT, amount_refunded_cents=800, amount_cents=3000),
    ]
    # When each is delivered four times at once
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda e: post(url, e), events * 4))
    assert {a.status_code for a in answers} == {200}
    wait_until(
        lambda: sum(w.count_lines(*processed("apply_refund")) for w in (first, second)) == 12,
        what="twelve refund messages processed",
    )
    # Then 800 cents are debited in all, each step once
    assert sum(refund_entries()) == -800
    assert balance() == 2200
    refunds = LedgerEntry.select().where(LedgerEntry.kind == "refund")
    details = [json.loads(e.details) for e in refunds]
    assert len({d["refunded_total_cents"] for d in details}) == len(details)
