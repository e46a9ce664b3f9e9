"""The real bridge process against poison on NATS: PostgreSQL, RabbitMQ, JetStream, worker.

A signed record that breaks the rules, fetched in the same batch as good records of other
nodes, must not keep the good ones from being charged, must be quarantined with an alert
(never dead-lettered silently), and must not crash the bridge; an idle stream must not
restart it either.
"""

from __future__ import annotations

import json
import time

import nacl.signing

from models import Account, Alert, Billing, Node, UsageRecord
from tests.support.bridge_stack import USER, dead_letters, publish, record, start_bridge
from tests.support.nats_helpers import TestStream
from tests.support.node_stack import stream  # noqa: F401 - a fixture
from tests.support.procs import wait_until
from tests.support.stack import Stack

KEYS = {name: nacl.signing.SigningKey.generate() for name in ("node-a", "node-b", "node-c")}


def register_nodes() -> None:
    account = Account.create(address=USER)
    Billing.create(account=account)
    for name, key in KEYS.items():
        Node.create(name=name, repo_url="unused", pubkey_hex=key.verify_key.encode().hex())


def test_poison_in_a_batch_is_quarantined_and_the_other_nodes_are_charged(
    pg_stack: Stack, stream: TestStream
) -> None:
    stack = pg_stack
    register_nodes()
    # Given one stream holding, in this order: good node-a records, a signed node-c record
    # whose time overflows, one whose amount is out of bounds, and good node-b records
    publish(stream, [record(i, cents=10, node="node-a") for i in (1, 2)], key=KEYS["node-a"])
    overflow = {**record(1, node="node-c"), "occurred_at": "99999999999999999999"}
    too_much = {**record(2, node="node-c"), "amount_cents": 10**30}
    publish(stream, [overflow, too_much], key=KEYS["node-c"])
    publish(stream, [record(i, cents=5, node="node-b") for i in (1, 2)], key=KEYS["node-b"])

    # When the bridge and a worker start (the six messages come in one fetch)
    stack.worker()
    bridge = start_bridge(stack, stream)

    # Then the good records of node-a and node-b are charged, once
    wait_until(lambda: UsageRecord.select().count() == 4, timeout=60, what="4 records")
    wait_until(lambda: Billing.get().balance_cents == -30, timeout=30, what="the charges")
    assert sorted(r.key for r in UsageRecord.select()) == [
        "node-a:1",
        "node-a:2",
        "node-b:1",
        "node-b:2",
    ]
    # And each poison record is quarantined with its own alert naming node, subject, seq
    alerts = wait_until(
        lambda: (
            list(Alert.select().where(Alert.subject == "node-c")).__len__() == 2
            and list(Alert.select().where(Alert.subject == "node-c"))
        ),
        timeout=30,
        what="two alerts for node-c",
    )
    messages = sorted(a.message for a in alerts)
    assert all(f"{stream.prefix}.node-c seq " in m for m in messages)
    assert any("occurred_at" in m for m in messages)
    assert any("amount_cents" in m for m in messages)
    assert {json.loads(a.details)["msg_id"] for a in alerts} == {"node-c:1", "node-c:2"}
    bridge.wait_lines("bridge.message_quarantined", count=2)
    # And nothing was dead-lettered, and the bridge never restarted
    assert dead_letters(stack.env["HERO_AMQP_URL"]) == 0
    assert bridge.count_lines("bridge.crashed") == 0
    assert bridge.count_lines("bridge.started") == 1


def test_an_idle_bridge_keeps_running_without_restarting(
    pg_stack: Stack, stream: TestStream
) -> None:
    stack = pg_stack
    register_nodes()
    stack.worker()
    bridge = start_bridge(stack, stream)

    time.sleep(6)  # several empty fetches of one second each

    assert bridge.count_lines("bridge.crashed") == 0
    assert bridge.count_lines("bridge.started") == 1
    publish(stream, [record(1, cents=4, node="node-a")], key=KEYS["node-a"])
    wait_until(lambda: Billing.get().balance_cents == -4, timeout=30, what="the charge")
