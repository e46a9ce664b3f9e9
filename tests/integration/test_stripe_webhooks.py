"""Stripe webhooks to ledger on real PostgreSQL and RabbitMQ, through real gateway and
worker processes: credited exactly once whatever the deliveries, the rejections and the
outages."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests

from models import LedgerEntry, PaymentEvent
from tests.support.procs import wait_until
from tests.support.services import free_port
from tests.support.stack import (
    ADDRESS,
    PROCESSED,
    STRIPE_SECRET,
    Stack,
    balance,
    make_account,
    post,
    waiting_on_lock,
)
from tests.support.stripe_events import charge_refunded, checkout_completed, signed
from tests.support.tcp_proxy import TcpProxy


def test_paid_checkout_delivered_three_times_through_two_gateways_credits_once(
    stack: Stack,
) -> None:
    # Given an account, two gateways and a worker
    make_account()
    gateways = [stack.gateway("g1"), stack.gateway("g2")]
    metrics_port = free_port()
    worker = stack.worker(HERO_METRICS_ADDR=f"127.0.0.1:{metrics_port}")
    body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=2500), STRIPE_SECRET)

    # When Stripe delivers the same event three times at once, across both gateways
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda url: post(url, body, headers), [*gateways, gateways[0]]))

    # Then every delivery is acknowledged, all three messages are processed, one credit
    assert [a.status_code for a in answers] == [200, 200, 200]
    worker.wait_lines(*PROCESSED, count=3)
    assert balance() == 2500
    assert PaymentEvent.select().count() == 1
    assert LedgerEntry.select().count() == 1
    metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    assert 'hero_messages_total{actor="apply_payment",outcome="ok"} 3.0' in metrics


def _tamper(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"2500", b"9500"), headers


def _wrong_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return signed_again(body, "whsec_not_ours", int(time.time()))


def _no_header(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": "application/json"}


def _stale(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return signed_again(body, STRIPE_SECRET, int(time.time()) - 301)


def _future(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return signed_again(body, STRIPE_SECRET, int(time.time()) + 3600)


def signed_again(body: bytes, secret: str, stamp: int) -> tuple[bytes, dict[str, str]]:
    from adapters.payments.stripe_provider import sign_stripe_payload

    return body, {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_stripe_payload(body, secret, stamp),
    }


@pytest.mark.parametrize(
    "spoil",
    [_tamper, _wrong_secret, _no_header, _stale, _future],
    ids=["tampered-body", "wrong-secret", "missing-header", "301s-old", "hour-in-future"],
)
def test_bad_signature_is_refused_and_nothing_is_sent(stack: Stack, spoil) -> None:
    make_account()
    url = stack.gateway()
    worker = stack.worker()
    body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=2500), STRIPE_SECRET)

    answer = post(url, *spoil(body, headers))

    assert answer.status_code == 400
    assert "Stripe-Signature" in answer.json()["description"]
    # A good event afterwards is the only one the worker ever sees.
    good, good_headers = signed(
        checkout_completed(address=ADDRESS, amount_cents=100), STRIPE_SECRET
    )
    assert post(url, good, good_headers).status_code == 200
    worker.wait_lines(*PROCESSED, count=1)
    time.sleep(0.5)
    assert worker.count_lines(*PROCESSED) == 1
    assert stack.process("gateway").count_lines("webhook.accepted") == 1
    assert balance() == 100


def test_body_over_256_kib_is_refused_with_413(stack: Stack) -> None:
    url = stack.gateway()
    answer = requests.post(url + "/webhooks/stripe", data=b"x" * (256 * 1024 + 1), timeout=30)
    assert answer.status_code == 413


def test_broker_down_answers_503_and_the_providers_retry_credits_once(stack: Stack) -> None:
    # Given a gateway whose only way to RabbitMQ is a link we can cut
    make_account()
    proxy = TcpProxy(("127.0.0.1", 5672)).up()
    vhost = stack.env["HERO_AMQP_URL"].rsplit("/", 1)[1]
    url = stack.gateway(HERO_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}")
    worker = stack.worker()
    body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=700), STRIPE_SECRET)

    # When the broker is unreachable, the webhook is not acknowledged
    proxy.down()
    answer = post(url, body, headers)
    assert answer.status_code == 503
    assert requests.get(url + "/readyz", timeout=10).status_code == 503
    time.sleep(0.5)
    assert PaymentEvent.select().count() == 0

    # Then Stripe retries after the broker is back: credited once
    proxy.up()
    retry = post(url, body, headers)
    assert retry.status_code == 200
    worker.wait_lines(*PROCESSED, count=1)
    assert balance() == 700
    proxy.down()


def test_worker_killed_while_applying_a_payment_credits_once_after_restart(
    pg_stack: Stack,
    pg_db: str,
) -> None:
    stack = pg_stack
    # Given a worker that will block inside apply_payment on the account's billing row
    account = make_account()
    url = stack.gateway()
    first = stack.worker("worker-1")
    locker = psycopg2.connect(pg_db)
    cursor = locker.cursor()
    cursor.execute("SELECT id FROM billing WHERE account_id = %s FOR UPDATE", (account.id,))
    body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=1200), STRIPE_SECRET)
    assert post(url, body, headers).status_code == 200
    wait_until(lambda: waiting_on_lock(pg_db), what="the worker to wait on the billing row")

    # When the worker is killed mid-transaction and the row is released
    first.kill(signal.SIGKILL)
    locker.rollback()
    locker.close()
    assert PaymentEvent.select().count() == 0

    # Then a restarted worker gets the message again and credits it once
    second = stack.worker("worker-2")
    second.wait_lines(*PROCESSED, count=1)
    assert balance() == 1200
    assert LedgerEntry.select().count() == 1


def test_charge_refunded_debits_once(stack: Stack) -> None:
    make_account()
    url = stack.gateway()
    worker = stack.worker()
    paid, paid_headers = signed(
        checkout_completed(address=ADDRESS, amount_cents=3000, payment_intent="pi_refundme"),
        STRIPE_SECRET,
    )
    assert post(url, paid, paid_headers).status_code == 200
    worker.wait_lines(*PROCESSED, count=1)

    event = charge_refunded(
        payment_intent="pi_refundme", amount_refunded_cents=1000, refunds=[("re_1", 1000)]
    )
    for _ in range(2):
        assert post(url, *signed(event, STRIPE_SECRET)).status_code == 200
    worker.wait_lines("message.processed", '"actor_name": "apply_refund"', count=2)

    assert balance() == 2000
    assert LedgerEntry.select().where(LedgerEntry.kind == "refund").count() == 1
