"""The bridge: JetStream usage messages to ``apply_usage_batch``, acked only once confirmed.

A durable pull consumer on the usage stream fetches batches, and each message gets its
own verdict from ``runtime.bridge_checks.check_message`` (pure, never raises):

- ``apply``: the signature verifies with its node's registered key and the record obeys
  the shared rules (``wire.rules``); the batch's good records go to
  ``apply_usage_batch`` in one message, and these messages are acked only after the
  broker confirmed it (or, embedded, after the batch was applied);
- ``term``: a bad signature, a body that is no record, a value out of bounds, a time
  that cannot be read: quarantined first (an operator alert naming node, subject,
  stream sequence and reason, with the body), then terminated so it is never offered
  again. If the alert cannot be stored, the message is left for redelivery instead;
- ``later``: its node is not registered (yet): offered again after a delay, with an
  alert telling the operator to register it.

Batches come from ``runtime.pull.PullBatches``. A batch is checked in chunks on a pool
of ``CHECK_THREADS`` threads (libsodium verifies without the GIL), and its confirmed send
and acks go on while the next batch is checked: one batch in flight at most, acked in
the order fetched.

One message never takes the others of its batch down with it, and nothing crashes the
loop: an idle fetch (nats-py raises ``nats.errors.TimeoutError``, or asyncio's
``TimeoutError`` in newer versions) just fetches again, and a batch that fails for any
other reason is logged, left unacked for redelivery, and retried after a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import peewee
import structlog

from actors.alerts import raise_alert
from actors.usage import deliver_usage
from models import db
from models.errors import BrokerUnavailable
from runtime.bridge_checks import (
    NodeKeys,
    Verdict,
    check_message,
    quarantine_alert,
    stream_sequence,
)
from runtime.pull import PullBatches
from settings import Settings
from wire.nats import ensure_stream

log = structlog.get_logger("hero.bridge")

#: Messages per fetch, and so at most per apply_usage_batch message.
FETCH_BATCH = 1000
#: Name of the durable consumer every bridge shares (they split the work).
DURABLE = "hero-bridge"
#: Seconds before a message from an unregistered node is offered again.
UNKNOWN_NODE_DELAY_S = 60
#: Seconds before messages are offered again when the broker or database failed.
RETRY_DELAY_S = 5
#: Seconds one fetch waits for messages when the stream is idle.
FETCH_TIMEOUT_S = 1.0
#: The longest pause, in seconds, after batches that keep failing.
MAX_BACKOFF_S = 30.0
#: Threads that check messages: libsodium lets go of the GIL while it verifies (~40 us a
#: signature, most of a message's cost), so two threads keep both cores verifying while
#: the event loop reads the next batch and acks the last.
CHECK_THREADS = 2
#: Messages per task of the check pool: 8 tasks for a full batch, so that both threads
#: stay busy to the end while a task's hand-over (~50 us) stays small beside its work.
CHECK_CHUNK = 125


def _reconnecting(fn: Callable[[], Any]) -> Any:
    """Run *fn* in an executor thread; after a database connection error, give the
    thread's connection back and run *fn* once more, on a fresh connection.

    Each executor thread keeps its connection between batches: once PostgreSQL dropped it
    (a restart, a network cut) every later read of that thread failed with ``connection
    already closed`` or ``server closed the connection``, and the bridge stopped charging
    for good. The connection is dropped as the workers' ``DatabaseReconnect`` middleware
    does; the second try spares the batch a wait of ``ack_wait`` for its redelivery (what
    runs here is a key read, a keyed delivery or an alert: safe to repeat). A second
    failure (PostgreSQL still away) is raised: the batch is redelivered.
    """
    for attempt in (1, 2):
        try:
            return fn()
        except (peewee.InterfaceError, peewee.OperationalError) as exc:
            with contextlib.suppress(Exception):
                if not db.is_closed():
                    db.close()
            if attempt == 2:
                raise
            log.warning("bridge.database_reconnect", error=repr(exc)[:300])
    raise AssertionError("unreachable")


class BatchHandler:
    """Settles one fetched batch: quarantines and terms the bad, delivers and acks the good."""

    def __init__(
        self,
        *,
        prefix: str,
        keys: NodeKeys,
        executor: ThreadPoolExecutor,
        deliver: Callable[[list[dict[str, Any]], str], Any],
        alert: Callable[..., Any] = raise_alert,
        checks: Executor | None = None,
    ) -> None:
        """*executor* runs the database and broker calls (one thread: batches are sent in
        order); *checks*, when given, checks the messages of a batch in chunks beside the
        event loop, else they are checked on the loop itself."""
        self._prefix = prefix
        self._keys = keys
        self._executor = executor
        self._deliver = deliver
        self._alert = alert
        self._checks = checks
        self._sending: asyncio.Future[None] | None = None

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: _reconnecting(fn)
        )

    async def handle(self, msgs: list[Any]) -> None:
        """Check *msgs*, settle the bad, and start sending the good: the send (and then
        the acks) goes on while the next batch is checked; ``drain`` waits for it.

        At most one batch is being sent: the send of this batch starts once the last
        one's broker confirm came and its messages were acked, so batches are sent and
        acked in the order they were fetched.
        """
        now = dt.datetime.now(dt.UTC)
        known = self._keys.cached() or await self._run(self._keys.get)
        verdicts = await self._check_all(msgs, known, now)
        later = [i for i, v in enumerate(verdicts) if v.action == "later"]
        if later:  # a node registered since the keys were read is charged now, not later
            known = await self._run(lambda: self._keys.get(force=True))
            for i in later:
                verdicts[i] = self._verdict(msgs[i], known, now)
        for msg, verdict in zip(msgs, verdicts, strict=True):
            if verdict.action == "term":
                await self._quarantine(msg, verdict)
            elif verdict.action == "later":
                await self._later(msg, verdict)
        good = [(m, v) for m, v in zip(msgs, verdicts, strict=True) if v.action == "apply"]
        await self.drain()
        if good:
            self._sending = asyncio.ensure_future(self._send(good))

    async def drain(self) -> None:
        """Wait until the batch being sent is confirmed and acked (or nakked)."""
        sending, self._sending = self._sending, None
        if sending is not None:
            await sending

    async def _send(self, good: list[tuple[Any, Verdict]]) -> None:
        try:
            await self._apply(good)
        except Exception as exc:  # noqa: BLE001 - unacked: NATS redelivers them after ack_wait
            log.exception("bridge.send_failed", error=repr(exc), messages=len(good))

    async def _check_all(
        self, msgs: list[Any], known: Mapping[str, str], now: dt.datetime
    ) -> list[Verdict]:
        """The verdicts of *msgs*, in order: chunks checked on the check pool while the
        event loop is free to take in the next batch and send out acks."""
        if self._checks is None or len(msgs) <= CHECK_CHUNK:
            return self._verdicts(msgs, known, now)
        loop = asyncio.get_running_loop()
        chunks = await asyncio.gather(
            *(
                loop.run_in_executor(
                    self._checks, self._verdicts, msgs[i : i + CHECK_CHUNK], known, now
                )
                for i in range(0, len(msgs), CHECK_CHUNK)
            )
        )
        return list(itertools.chain.from_iterable(chunks))

    def _verdicts(
        self, msgs: Sequence[Any], known: Mapping[str, str], now: dt.datetime
    ) -> list[Verdict]:
        return [self._verdict(m, known, now) for m in msgs]

    def _verdict(self, msg: Any, known: Mapping[str, str], now: dt.datetime) -> Verdict:
        return check_message(
            msg.subject, msg.data, msg.headers, prefix=self._prefix, keys=known, now=now
        )

    async def _apply(self, good: list[tuple[Any, Verdict]]) -> None:
        records = [v.record for _, v in good if v.record is not None]
        try:
            await self._run(lambda: self._deliver(records, "nats"))
        except BrokerUnavailable as exc:
            log.warning("bridge.broker_unavailable", error=str(exc), messages=len(good))
            await _each(good, lambda m: m.nak(delay=RETRY_DELAY_S))
            return
        except Exception as exc:  # noqa: BLE001 - left for redelivery, never lost or acked
            log.error("bridge.deliver_failed", error=repr(exc), messages=len(good))
            await _each(good, lambda m: m.nak(delay=RETRY_DELAY_S))
            return
        await _each(good, lambda m: m.ack())

    async def _quarantine(self, msg: Any, verdict: Verdict) -> None:
        kind, subject, message, details = quarantine_alert(msg, verdict)
        try:
            await self._run(lambda: self._alert(kind, subject, message, details))
        except Exception as exc:  # noqa: BLE001 - not stored: keep the message, retry later
            log.error(
                "bridge.quarantine_failed",
                node=verdict.node,
                subject=msg.subject,
                stream_seq=details["stream_seq"],
                error=repr(exc),
            )
            await _settle(msg.nak(delay=RETRY_DELAY_S), msg)
            return
        log.error(
            "bridge.message_quarantined",
            node=verdict.node,
            subject=msg.subject,
            stream_seq=details["stream_seq"],
            msg_id=details["msg_id"],
            reason=verdict.reason,
        )
        await _settle(msg.term(), msg)
        log.warning(
            "bridge.message_terminated",
            node=verdict.node,
            stream_seq=details["stream_seq"],
            reason=verdict.reason,
        )

    async def _later(self, msg: Any, verdict: Verdict) -> None:
        await _settle(msg.nak(delay=UNKNOWN_NODE_DELAY_S), msg)
        try:
            await self._run(
                lambda: self._alert(
                    "unknown_node",
                    verdict.node,
                    verdict.reason + "; register it with hero-admin node add",
                    {"subject": msg.subject, "stream_seq": stream_sequence(msg)},
                )
            )
        except Exception as exc:  # noqa: BLE001 - the message comes back anyway
            log.error("bridge.alert_failed", node=verdict.node, error=repr(exc))


async def _each(pairs: list[tuple[Any, Verdict]], act: Callable[[Any], Any]) -> None:
    """Ack (or nak) every message of a batch, one after the other.

    nats-py's ``Msg.ack`` only appends the +ACK to the client's buffer (the flusher task
    writes the buffer out once the loop is free), so awaiting each in turn never waits on
    the network: the batch still goes out in one write, without a task per message.
    """
    for msg, _ in pairs:
        await _settle(act(msg), msg)


async def _settle(action: Any, msg: Any) -> None:
    """Await an ack/nak/term; a failure leaves the message to be redelivered (logged)."""
    try:
        await action
    except Exception as exc:  # noqa: BLE001 - NATS redelivers after ack_wait
        log.warning("bridge.settle_failed", subject=msg.subject, error=repr(exc))


async def run_bridge(
    settings: Settings,
    *,
    stop: threading.Event,
    deliver: Callable[[list[dict[str, Any]], str], Any] = deliver_usage,
) -> None:
    """Consume until *stop* is set; reconnects to NATS by itself."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    assert settings.nats_url, "the bridge needs HERO_NATS_URL"
    nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=1)
    js = nc.jetstream()
    prefix, stream = settings.nats_subject_prefix, settings.nats_stream
    await ensure_stream(js, stream=stream, prefix=prefix)
    await js.pull_subscribe(  # creates the durable consumer, or binds to it
        f"{prefix}.>",
        durable=DURABLE,
        stream=stream,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, ack_wait=120, max_ack_pending=20 * FETCH_BATCH
        ),
    )
    batches = await PullBatches(nc, stream=stream, durable=DURABLE).start()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-send")
    checks = ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="bridge-check")
    handler = BatchHandler(
        prefix=prefix, keys=NodeKeys(), executor=executor, deliver=deliver, checks=checks
    )
    log.info("bridge.started", stream=stream, subjects=f"{prefix}.>")
    fill_s = settings.bridge_fill_ms / 1000
    try:
        await consume(
            lambda: batches.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S, fill=fill_s),
            handler.handle,
            stop=stop,
        )
    finally:
        await handler.drain()
        checks.shutdown(wait=True)
        executor.shutdown(wait=True)
        await nc.drain()


async def consume(
    fetch: Callable[[], Awaitable[list[Any]]],
    handle: Callable[[list[Any]], Awaitable[None]],
    *,
    stop: threading.Event,
) -> None:
    """Fetch and handle batches until *stop*; no fetch or batch ends the loop.

    The next fetch is in flight while a batch is verified, sent and acked, so the
    messages of the next batch are on their way instead of waiting for a round trip.
    A batch fetched is always handled, even when *stop* came meanwhile; after *stop* no
    new fetch starts.

    An idle fetch raises ``nats.errors.TimeoutError`` or, from some code paths of
    nats-py 2.x, asyncio's (the builtin) ``TimeoutError``: both just mean "fetch again".
    """
    from nats.errors import Error as NatsError

    failures = 0
    ahead: asyncio.Future[list[Any]] | None = asyncio.ensure_future(fetch())
    try:
        while ahead is not None:
            msgs: list[Any] | None = None
            try:
                msgs = await ahead
            except TimeoutError:  # idle: nats.errors.TimeoutError is a TimeoutError too
                pass
            except NatsError as exc:  # reconnecting, or a JetStream API hiccup
                log.warning("bridge.fetch_failed", error=repr(exc))
                await asyncio.sleep(FETCH_TIMEOUT_S)
            ahead = None if stop.is_set() else asyncio.ensure_future(fetch())
            if msgs is not None:
                failures = await _handle(handle, msgs, failures)
    finally:
        if ahead is not None:
            ahead.cancel()  # its messages, if any came, are redelivered after ack_wait


async def _handle(
    handle: Callable[[list[Any]], Awaitable[None]], msgs: list[Any], failures: int
) -> int:
    """Handle one batch; the count of consecutive failed batches after it."""
    try:
        await handle(msgs)
        return 0
    except Exception as exc:  # noqa: BLE001 - unacked messages come back; go on
        failures += 1
        pause = min(2.0**failures, MAX_BACKOFF_S)
        log.exception(
            "bridge.batch_failed",
            error=repr(exc),
            messages=len(msgs),
            failures=failures,
            retry_in_s=pause,
        )
        await asyncio.sleep(pause)
        return failures


def bridge_forever(settings: Settings, stop: threading.Event) -> None:
    """Run the bridge until *stop*; restart it (with a growing pause) after an error."""
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            asyncio.run(run_bridge(settings, stop=stop))
        except Exception as exc:  # noqa: BLE001 - log, wait, reconnect
            failures = 1 if time.monotonic() - started > 5 * MAX_BACKOFF_S else failures + 1
            pause = min(2.0**failures, MAX_BACKOFF_S)
            log.error("bridge.crashed", error=repr(exc), failures=failures, retry_in_s=pause)
            stop.wait(pause)
