"""The bridge's per-message verdicts, and how one fetched batch is settled.

``check_message`` is pure and must answer a verdict for anything NATS can hand over;
``BatchHandler`` must charge the good messages of a batch whatever the bad ones hold,
quarantine each bad one (an alert naming node, subject, sequence and reason) before it
terminates it, and ack only what the broker confirmed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import Alert
from models.errors import BrokerUnavailable
from runtime.bridge import CHECK_CHUNK, CHECK_THREADS, BatchHandler
from runtime.bridge_checks import NodeKeys, check_message

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
PREFIX = "hero.usage"
KEYS = {name: nacl.signing.SigningKey.generate() for name in ("node-a", "node-b")}
PUBKEYS = {name: key.verify_key.encode().hex() for name, key in KEYS.items()}


def record(node: str = "node-a", seq: int = 1, **change: Any) -> dict[str, Any]:
    return {
        "key": f"{node}:{seq}",
        "node": node,
        "user": USER,
        "resource_kind": "vm_hour",
        "applies_to": "vm",
        "quantity": 1,
        "amount_cents": 10,
        "occurred_at": "2026-11-21T14:03:10Z",
        **change,
    }


def signed(rec: dict[str, Any], *, node: str | None = None) -> tuple[str, bytes, dict[str, str]]:
    """Subject, body and headers of *rec* as its node publishes it."""
    node = node or rec["node"]
    body = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
    headers = {
        "Nats-Msg-Id": str(rec["key"]),
        "Hero-Signature": KEYS[node].sign(body).signature.hex(),
    }
    return f"{PREFIX}.{node}", body, headers


def verdict_of(subject: Any, body: Any, headers: Any) -> Any:
    return check_message(subject, body, headers, prefix=PREFIX, keys=PUBKEYS, now=NOW)


class TestCheckMessage:
    """One verdict per message; a signed, valid record is applied, anything else is not."""

    def test_a_signed_valid_record_is_applied(self) -> None:
        verdict = verdict_of(*signed(record()))

        assert verdict.action == "apply" and verdict.record == record()

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"occurred_at": "99999999999999999999"}, "occurred_at"),
            ({"occurred_at": "9999-12-31T23:59:59+14:00"}, "occurred_at"),
            ({"occurred_at": "1970-01-01T00:00:00Z"}, "occurred_at"),
            ({"amount_cents": 10**30}, "amount_cents"),
            ({"amount_cents": -1}, "amount_cents"),
            ({"quantity": 10**13}, "quantity"),
            ({"user": "not an address"}, "user"),
            ({"key": "node-b:1"}, "key"),
        ],
    )
    def test_a_signed_record_out_of_bounds_is_terminated_naming_the_field(
        self, change: dict[str, Any], reason: str
    ) -> None:
        verdict = verdict_of(*signed(record(**change)))

        assert verdict.action == "term"
        assert verdict.node == "node-a"
        assert f"record rejected: {reason}:" in verdict.reason

    def test_a_signature_of_another_key_is_terminated(self) -> None:
        subject, body, headers = signed(record())
        headers["Hero-Signature"] = KEYS["node-b"].sign(body).signature.hex()

        verdict = verdict_of(subject, body, headers)

        assert (verdict.action, verdict.node) == ("term", "node-a")
        assert verdict.reason.startswith("Hero-Signature:")

    @pytest.mark.parametrize("signature", [None, "", "zz", "00" * 64, "00" * 65])
    def test_a_missing_or_malformed_signature_is_terminated(self, signature: str | None) -> None:
        subject, body, headers = signed(record())
        headers.pop("Hero-Signature")
        if signature is not None:
            headers["Hero-Signature"] = signature

        assert verdict_of(subject, body, headers).reason.startswith("Hero-Signature:")

    def test_a_message_id_other_than_the_key_is_terminated(self) -> None:
        subject, body, headers = signed(record())
        headers["Nats-Msg-Id"] = "node-a:2"

        assert verdict_of(subject, body, headers).reason.startswith("Nats-Msg-Id:")

    def test_an_unregistered_node_is_offered_later(self) -> None:
        verdict = check_message(*signed(record()), prefix=PREFIX, keys={}, now=NOW)

        assert (verdict.action, verdict.node) == ("later", "node-a")

    def test_a_malformed_registered_key_is_offered_later(self) -> None:
        verdict = check_message(*signed(record()), prefix=PREFIX, keys={"node-a": "xyz"}, now=NOW)

        assert verdict.action == "later"

    def test_a_subject_outside_the_prefix_is_terminated(self) -> None:
        _, body, headers = signed(record())

        assert verdict_of("other.node-a", body, headers).action == "term"


SUBJECTS = st.one_of(
    st.just(f"{PREFIX}.node-a"),
    st.just(f"{PREFIX}.node-b"),
    st.just(f"{PREFIX}."),
    st.text(max_size=30),
    st.none(),
    st.integers(),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELD_VALUES = st.one_of(
    JSON,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from(
        [
            "99999999999999999999",
            "0",
            "1e400",
            "NaN",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
        ]
    ),
)
RECORDS = st.builds(
    lambda name, value: record(**{name: value}), st.sampled_from(list(record())), FIELD_VALUES
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[Any, Any, Any]:
    """Anything a peer might publish: signed or not, a record or not, any headers."""
    rec = draw(st.one_of(RECORDS, st.just(record()), JSON))
    body = draw(
        st.one_of(
            st.just(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()),
            st.binary(max_size=200),
            st.just(b"[" * 3000),
            st.text().map(str.encode),
        )
    )
    node = draw(st.sampled_from(["node-a", "node-b"]))
    headers: Any = draw(
        st.one_of(
            st.just(
                {
                    "Nats-Msg-Id": rec.get("key") if isinstance(rec, dict) else "x",
                    "Hero-Signature": KEYS[node].sign(body).signature.hex(),
                }
            ),
            st.dictionaries(
                st.sampled_from(["Nats-Msg-Id", "Hero-Signature", "X"]),
                st.text(max_size=140) | st.none(),
                max_size=3,
            ),
            st.none(),
            st.just(["not", "a", "mapping"]),
        )
    )
    subject = draw(st.one_of(st.just(f"{PREFIX}.{node}"), SUBJECTS))
    return subject, draw(st.one_of(st.just(body), st.none(), st.integers())), headers


@settings(max_examples=500, deadline=None)
@given(message=messages())
def test_any_message_gets_a_verdict_never_an_exception(message: tuple[Any, Any, Any]) -> None:
    verdict = verdict_of(*message)

    assert verdict.action in ("apply", "term", "later")
    if verdict.action == "apply":
        assert verdict.record is not None and verdict.node == verdict.record["node"]
    else:
        assert verdict.reason and len(verdict.reason) < 1000


# -- one batch, settled ------------------------------------------------------------------


@dataclass
class FakeMsg:
    """What the handler uses of a nats-py ``Msg``: data, headers, metadata and the acks."""

    subject: str
    data: bytes
    headers: dict[str, str] | None
    seq: int
    settled: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> Any:
        @dataclass
        class Seq:
            stream: int

        @dataclass
        class Meta:
            sequence: Seq

        return Meta(Seq(self.seq))

    async def ack(self) -> None:
        self.settled.append("ack")

    async def term(self) -> None:
        self.settled.append("term")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")


def fake(rec: dict[str, Any], seq: int) -> FakeMsg:
    return FakeMsg(*signed(rec), seq=seq)


class StaticKeys(NodeKeys):
    def get(self, *, force: bool = False) -> dict[str, str]:
        return PUBKEYS


def handle(msgs: list[FakeMsg], deliver: Any, *, pool: bool = False, **alert: Any) -> None:
    """Settle *msgs* as one batch; with *pool*, checked in chunks on a pool as the bridge
    does."""
    with (
        ThreadPoolExecutor(max_workers=1) as executor,
        ThreadPoolExecutor(max_workers=CHECK_THREADS) as checks,
    ):
        handler = BatchHandler(
            prefix=PREFIX,
            keys=StaticKeys(),
            executor=executor,
            deliver=deliver,
            checks=checks if pool else None,
            **alert,
        )
        asyncio.run(handle_and_drain(handler, msgs))


async def handle_and_drain(handler: BatchHandler, msgs: list[FakeMsg]) -> None:
    await handler.handle(list(msgs))
    await handler.drain()


def test_good_records_of_a_batch_are_delivered_and_the_poison_quarantined(sqlite_db: str) -> None:
    # Given a batch: node-a good, node-b with a time that overflows, node-b good
    good_a = fake(record("node-a", 1), seq=11)
    poison = fake(record("node-b", 1, occurred_at="99999999999999999999"), seq=12)
    good_b = fake(record("node-b", 2), seq=13)
    delivered: list[list[dict[str, Any]]] = []

    handle([good_a, poison, good_b], lambda records, via: delivered.append(records))

    # Then the good ones are delivered in one message and acked, the poison terminated
    assert [[r["key"] for r in batch] for batch in delivered] == [["node-a:1", "node-b:2"]]
    assert (good_a.settled, poison.settled, good_b.settled) == (["ack"], ["term"], ["ack"])
    (alert,) = Alert.select()
    assert (alert.kind, alert.subject) == ("records_rejected", "node-b")
    assert "hero.usage.node-b" in alert.message and "seq 12" in alert.message
    assert "occurred_at" in alert.message
    details = json.loads(alert.details)
    assert (details["stream_seq"], details["msg_id"]) == (12, "node-b:1")
    assert "99999999999999999999" in details["body"]


def test_two_bad_messages_with_the_same_reason_get_an_alert_each(sqlite_db: str) -> None:
    bad = [fake(record("node-a", i, amount_cents=10**9), seq=i) for i in (1, 2)]

    handle(bad, lambda records, via: None)

    assert Alert.select().count() == 2
    assert [m.settled for m in bad] == [["term"], ["term"]]


def test_nothing_is_acked_when_the_broker_did_not_confirm(sqlite_db: str) -> None:
    good = fake(record(), seq=1)

    def refuse(records: list[dict[str, Any]], via: str) -> None:
        raise BrokerUnavailable("no confirm")

    handle([good], refuse)

    assert good.settled == ["nak"]


def test_a_poison_that_cannot_be_quarantined_is_not_terminated() -> None:
    # Given a database that refuses the alert
    def alert(*args: Any) -> None:
        raise OSError("database is down")

    good, poison = fake(record(seq=1), seq=3), fake(record(seq=2, amount_cents=-5), seq=4)

    handle([good, poison], lambda records, via: None, alert=alert)

    # Then the poison comes back later, and the good record is not held up by it
    assert (good.settled, poison.settled) == (["ack"], ["nak"])


def chunked_batch(poison_at: int) -> list[FakeMsg]:
    """Good records over three chunks of the check pool, a poison at *poison_at*."""
    msgs = [fake(record("node-a", i + 1), seq=i + 1) for i in range(CHECK_CHUNK * 3)]
    msgs[poison_at] = fake(record("node-a", poison_at + 1, amount_cents=-1), seq=poison_at + 1)
    return msgs


def test_a_poison_inside_a_chunk_checked_on_the_pool_is_terminated_alone(sqlite_db: str) -> None:
    # Given a batch checked in chunks on the pool, a poison inside the second chunk
    poison_at = CHECK_CHUNK + CHECK_CHUNK // 2
    msgs = chunked_batch(poison_at)
    delivered: list[list[dict[str, Any]]] = []

    handle(msgs, lambda records, via: delivered.append(records), pool=True)

    # Then every other record is delivered once, in order, and acked; the poison terms
    keys = [m.headers["Nats-Msg-Id"] for m in msgs if m.headers]
    assert [[r["key"] for r in batch] for batch in delivered] == [
        keys[:poison_at] + keys[poison_at + 1 :]
    ]
    assert [m.settled for m in msgs] == [
        ["term"] if i == poison_at else ["ack"] for i in range(len(msgs))
    ]
    (alert,) = Alert.select()
    assert f"seq {poison_at + 1}" in alert.message and "amount_cents" in alert.message


def test_no_message_is_acked_before_the_send_is_confirmed(sqlite_db: str) -> None:
    msgs = chunked_batch(poison_at=3)
    settled_at_send: list[list[str]] = []

    def deliver(records: list[dict[str, Any]], via: str) -> None:
        settled_at_send.extend(list(m.settled) for m in msgs if m.seq != 4)

    handle(msgs, deliver, pool=True)

    assert settled_at_send and all(s == [] for s in settled_at_send)  # nothing acked yet
    assert all(m.settled == ["ack"] for m in msgs if m.seq != 4)


def test_a_failed_send_naks_every_good_message_of_the_batch(sqlite_db: str) -> None:
    msgs = chunked_batch(poison_at=CHECK_CHUNK * 2 + 1)

    def fail(records: list[dict[str, Any]], via: str) -> None:
        raise RuntimeError("the broker connection broke mid-send")

    handle(msgs, fail, pool=True)

    assert [m.settled for m in msgs] == [
        ["term"] if m.seq == CHECK_CHUNK * 2 + 2 else ["nak"] for m in msgs
    ]


def test_the_next_batch_is_checked_while_one_is_sent_and_batches_are_acked_in_order(
    sqlite_db: str,
) -> None:
    import threading

    first = [fake(record("node-a", i), seq=i) for i in (1, 2)]
    second = [fake(record("node-a", i), seq=i) for i in (3, 4)]
    confirm_first = threading.Event()
    sends: list[tuple[list[str], list[list[str]]]] = []

    def deliver(records: list[dict[str, Any]], via: str) -> None:
        sends.append(([r["key"] for r in records], [list(m.settled) for m in first]))
        if len(sends) == 1:
            assert confirm_first.wait(5), "the first send was never let through"

    async def go(handler: BatchHandler) -> None:
        await handler.handle(first)  # returns while the first batch is being sent
        await asyncio.sleep(0.1)
        assert len(sends) == 1
        checked = asyncio.ensure_future(handler.handle(second))
        await asyncio.sleep(0.1)
        # the second batch is checked meanwhile, but not sent before the first is confirmed
        assert len(sends) == 1 and all(m.settled == [] for m in first + second)
        confirm_first.set()
        await checked
        await handler.drain()

    with ThreadPoolExecutor(max_workers=1) as executor:
        handler = BatchHandler(prefix=PREFIX, keys=StaticKeys(), executor=executor, deliver=deliver)
        asyncio.run(asyncio.wait_for(go(handler), timeout=10))

    # the second batch was sent once the first was acked
    assert sends == [
        (["node-a:1", "node-a:2"], [[], []]),
        (["node-a:3", "node-a:4"], [["ack"], ["ack"]]),
    ]
    assert all(m.settled == ["ack"] for m in first + second)


def test_node_keys_are_known_without_a_read_only_while_fresh(sqlite_db: str) -> None:
    from models import Node

    clock = [5.0]  # a machine up for 5 s: younger than the keys' lifetime
    Node.create(name="node-a", repo_url="unused", pubkey_hex=PUBKEYS["node-a"])
    keys = NodeKeys(ttl_s=30.0, clock=lambda: clock[0])

    assert keys.cached() is None  # never read: the loop must read them
    assert keys.get() == {"node-a": PUBKEYS["node-a"]}
    clock[0] += 29.0
    assert keys.cached() == {"node-a": PUBKEYS["node-a"]}
    clock[0] += 2.0
    assert keys.cached() is None  # stale: read again


# -- the fetch loop ----------------------------------------------------------------------


def test_idle_fetches_and_a_failing_batch_do_not_end_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import nats.errors
    import structlog
    from structlog.testing import capture_logs

    import runtime.bridge
    from runtime.bridge import consume

    # a logger not cached by an earlier CLI run, so that capture_logs sees its lines
    monkeypatch.setattr(runtime.bridge, "log", structlog.get_logger("hero.bridge"))

    stop = threading.Event()
    # nats-py raises either timeout when the stream is idle; then two batches come
    outcomes: list[Any] = [TimeoutError(), nats.errors.TimeoutError(), ["first"], ["second"]]
    handled: list[list[Any]] = []

    async def fetch() -> list[Any]:
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if isinstance(outcome, BaseException):
            raise outcome
        return list(outcome)

    async def handle(msgs: list[Any]) -> None:
        handled.append(msgs)
        if msgs == ["first"]:
            raise RuntimeError("a bug in one batch")

    with capture_logs() as logs:
        asyncio.run(consume(fetch, handle, stop=stop))

    assert handled == [["first"], ["second"]]
    failed = [e for e in logs if e["event"] == "bridge.batch_failed"]
    assert len(failed) == 1 and failed[0]["log_level"] == "error"


def test_the_next_fetch_is_in_flight_while_a_batch_is_handled() -> None:
    import threading

    from runtime.bridge import consume

    stop = threading.Event()
    fetches: list[int] = []
    overlapped: list[bool] = []

    async def fetch() -> list[Any]:
        fetches.append(len(fetches) + 1)
        if len(fetches) == 3:
            stop.set()
        return [f"batch {len(fetches)}"]

    async def handle(msgs: list[Any]) -> None:
        await asyncio.sleep(0.01)  # verifying and sending take a while
        overlapped.append(len(fetches) > int(msgs[0].split()[1]))

    asyncio.run(asyncio.wait_for(consume(fetch, handle, stop=stop), timeout=5))

    assert fetches == [1, 2, 3] and overlapped == [True, True, False]  # every fetched batch handled
