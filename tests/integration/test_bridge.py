"""The bridge on real NATS JetStream, RabbitMQ and PostgreSQL/SQLite: signed records are
charged once, bad signatures are terminated with an alert, acks wait for the broker."""

from __future__ import annotations

import re
import time

import nacl.signing

from models import Account, Alert, Billing, Node, UsageRecord
from tests.support.bridge_stack import NODE_KEY, USER, publish, record, start_bridge
from tests.support.node_stack import stream  # noqa: F401 - a fixture
from tests.support.procs import wait_until
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy


def setup_account_and_node() -> None:
    account = Account.create(address=USER)
    Billing.create(account=account)
    Node.create(name="node-a", repo_url="unused", pubkey_hex=NODE_KEY.verify_key.encode().hex())


def balance() -> int:
    return Billing.get().balance_cents


def test_signed_records_are_charged_once_even_when_published_twice(stack: Stack, stream) -> None:
    setup_account_and_node()
    stack.worker()
    start_bridge(stack, stream)
    records = [record(i) for i in range(1, 201)]
    publish(stream, records)
    publish(stream, records[:50])  # a republish inside the dedup window
    wait_until(lambda: UsageRecord.select().count() == 200, timeout=60, what="200 records")
    wait_until(lambda: balance() == -2000, timeout=30, what="the charges")
    assert all(r.seen_nats_at is not None for r in UsageRecord.select())


def test_a_bad_signature_is_terminated_with_an_alert_and_charges_nothing(
    stack: Stack, stream
) -> None:
    setup_account_and_node()
    stack.worker()
    bridge = start_bridge(stack, stream)
    publish(stream, [record(1, cents=999)], key=nacl.signing.SigningKey.generate())
    publish(stream, [record(2, cents=7)])
    wait_until(lambda: balance() == -7, timeout=60, what="the good record's charge")
    alert = wait_until(
        lambda: Alert.get_or_none(Alert.kind == "bad_signature"), timeout=30, what="the alert"
    )
    assert alert.subject == "node-a" and "Hero-Signature" in alert.message
    assert UsageRecord.select().count() == 1
    bridge.wait_lines("bridge.message_terminated")


def test_nats_down_for_a_while_then_everything_is_charged_once(stack: Stack, stream) -> None:
    setup_account_and_node()
    stack.worker()
    proxy = TcpProxy(("127.0.0.1", 4222)).up()
    publish(stream, [record(i, cents=1) for i in range(1, 51)])
    start_bridge(stack, stream, HERO_NATS_URL=f"nats://127.0.0.1:{proxy.port}")
    wait_until(lambda: balance() == -50, timeout=60, what="the first charges")
    proxy.down()
    publish(stream, [record(i, cents=1) for i in range(51, 101)])
    import time

    time.sleep(2)
    proxy.up()
    wait_until(lambda: balance() == -100, timeout=90, what="charges after NATS is back")
    assert UsageRecord.select().count() == 100
    proxy.down()


def test_broker_down_leaves_messages_unacked_until_it_is_back(pg_stack: Stack, stream) -> None:
    stack = pg_stack
    setup_account_and_node()
    stack.worker()
    proxy = TcpProxy(("127.0.0.1", 5672)).up()
    vhost = stack.env["HERO_AMQP_URL"].rsplit("/", 1)[1]
    proxy.down()
    start_bridge(stack, stream, HERO_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}")
    publish(stream, [record(i, cents=3) for i in range(1, 11)])
    import time

    time.sleep(3)
    assert UsageRecord.select().count() == 0
    proxy.up()
    try:
        wait_until(lambda: balance() == -30, timeout=90, what="charges after the broker is back")
    except TimeoutError as exc:
        logs = {p: stack.process(p).log_text[-4000:] for p in ("bridge", "worker")}
        raise AssertionError(f"balance {balance()}; logs: {logs}") from exc
    proxy.down()


def test_a_postgresql_cut_under_the_bridge_does_not_stop_it_for_good(
    pg_stack: Stack, stream
) -> None:
    # Given a bridge reaching PostgreSQL through a proxy, having charged a first batch
    stack = pg_stack
    setup_account_and_node()
    stack.worker()
    proxy = TcpProxy(("127.0.0.1", 5432)).up()
    direct = stack.env["HERO_DATABASE_URL"]
    via_proxy = re.sub(r"@127\.0\.0\.1:\d+/", f"@127.0.0.1:{proxy.port}/", direct)
    assert via_proxy != direct
    bridge = start_bridge(stack, stream, HERO_DATABASE_URL=via_proxy)
    publish(stream, [record(i, cents=1) for i in range(1, 11)])
    wait_until(lambda: balance() == -10, timeout=60, what="the first charges")

    # When PostgreSQL drops the bridge's connection for a moment
    proxy.down()
    time.sleep(1)
    proxy.up()

    # Then once its node keys are due to be read again (every 30 s), it reads them on a
    # fresh connection and goes on charging
    time.sleep(31)
    publish(stream, [record(i, cents=1) for i in range(11, 21)])
    try:
        wait_until(lambda: balance() == -20, timeout=90, what="charges after the cut")
    except TimeoutError as exc:
        raise AssertionError(f"balance {balance()}; log: {bridge.log_text[-3000:]}") from exc
    finally:
        proxy.down()
