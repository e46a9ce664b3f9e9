"""The NATS shell: journal records to JetStream, each marked published only after its PubAck.

Wire format, one record per message:

- subject ``<HERO_NATS_SUBJECT_PREFIX>.<node>`` in stream ``HERO_NATS_STREAM`` (created
  with subjects ``<prefix>.>`` when missing, left as it is when present);
- body: ``UsageIn.to_json()`` as compact JSON with sorted keys, UTF-8 (the journal keeps
  these exact bytes, so a retry sends the same body);
- header ``Nats-Msg-Id``: the record key ``<node>:<seq>`` (JetStream drops a repeat inside
  its duplicate window; consumers dedupe on the key beyond it);
- header ``Hero-Signature``: hex Ed25519 signature of the exact body bytes.

NATS down, slow or refusing: the records stay unpublished in the journal and are sent
again on the next round (same key, same body); nothing is lost. Any other failure of a
round (the journal locked or unreadable, a bug) is logged as an error each time it
happens and the round is tried again after a backoff: the loop never ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import nacl.signing
import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import PubAck

from node_agent.journal import Journal, JournalRow
from node_agent.keys import sign_hex
from wire.nats import MSG_ID_HEADER, SIGNATURE_HEADER, ensure_stream, subject_for

log = structlog.get_logger("hero.node.publisher")

#: Journal rows read, and acknowledged rows marked published, at a time.
BATCH = 256
#: PubAcks in flight at most: the journal is read on while they arrive.
WINDOW = 2048
#: Seconds to wait for one PubAck, from its send.
ACK_TIMEOUT_S = 5.0
#: Seconds between looks at the journal when nothing woke the publisher.
POLL_S = 0.25
#: Seconds to wait after a failed round or connection, doubling up to ``MAX_BACKOFF_S``.
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0


def headers_for(row: JournalRow, key: nacl.signing.SigningKey) -> dict[str, str]:
    """The headers of *row*'s message: its key and the signature of its body (the one
    stored at append, made with the same key, or a new one)."""
    signature = row.signature or sign_hex(key, row.body)
    return {MSG_ID_HEADER: row.key, SIGNATURE_HEADER: signature}


class Publisher:
    """Publishes a journal to JetStream until stopped; reconnects and retries forever."""

    def __init__(
        self,
        journal: Journal,
        *,
        key: nacl.signing.SigningKey,
        nats_url: str,
        stream: str,
        subject_prefix: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._journal = journal
        self._key = key
        self._url = nats_url
        self._stream = stream
        self._prefix = subject_prefix
        self._subject = subject_for(subject_prefix, journal.node)
        self._clock = clock
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._marked = 0

    def wake(self) -> None:
        """Look at the journal now (thread-safe; called after a record was appended)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, ensure the stream and publish, until *stop* is set."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        backoff = MIN_BACKOFF_S
        while not stop.is_set():
            try:
                nc = await nats.connect(
                    self._url,
                    name=f"hero-node {self._journal.node}",
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=_on_error,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=_on_reconnect,
                )
            except (TimeoutError, OSError, NatsError) as exc:
                log.warning("publisher.connect_failed", url=self._url, error=repr(exc))
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            try:
                js = nc.jetstream(timeout=ACK_TIMEOUT_S)
                if await ensure_stream(js, stream=self._stream, prefix=self._prefix):
                    log.info(
                        "publisher.stream_created",
                        stream=self._stream,
                        subjects=f"{self._prefix}.>",
                    )
                log.info(
                    "publisher.connected", url=self._url, stream=self._stream, subject=self._subject
                )
                backoff = MIN_BACKOFF_S
                await self._publish_until(stop, js)
            except (TimeoutError, OSError, NatsError) as exc:
                log.warning("publisher.round_failed", error=repr(exc), retry_in_s=backoff)
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception as exc:  # noqa: BLE001 - journal or bug: log, back off, go on
                log.exception("publisher.round_crashed", error=repr(exc), retry_in_s=backoff)
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            finally:
                self._stopping = stop.is_set()
                await _close(nc)

    async def _on_disconnect(self) -> None:
        if not self._stopping:
            log.warning("publisher.disconnected", url=self._url)

    async def _publish_until(self, stop: asyncio.Event, js: JetStreamContext) -> None:
        backoff = MIN_BACKOFF_S
        while not stop.is_set():
            self._wake.clear()
            _, failed = await self.publish_pending(js, stop=stop)
            if failed:
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = MIN_BACKOFF_S
            waiters = [asyncio.ensure_future(e.wait()) for e in (stop, self._wake)]
            await asyncio.wait(waiters, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def publish_pending(
        self, js: JetStreamContext, *, stop: asyncio.Event | None = None
    ) -> tuple[int, int]:
        """Publish every unpublished record, up to ``WINDOW`` PubAcks in flight; returns
        (acknowledged, failed). Once *stop* is set no more rows are read; those in flight
        are still awaited.

        The journal is read ``BATCH`` rows at a time in a thread after the last row sent,
        while the acks of the rows before arrive; each body goes with the signature stored
        at append (signing is the largest cost per record, so it is not paid here when
        ``serve`` journalled the row). Acknowledged rows are marked published ``BATCH`` or
        more at a time, in a thread, while the next acks are awaited. The first ack that
        fails or is late stops the reading: every
        other message in flight is still awaited until its own deadline, so only the
        unacknowledged rows stay unpublished for the next pass (same key, same body:
        JetStream and the consumers drop the repeats).
        """
        self._marked = 0
        window = _Window()
        marker: asyncio.Future[None] | None = None
        after, exhausted = 0, False
        try:
            while True:
                exhausted = exhausted or window.error is not None or _is_set(stop)
                if not exhausted and WINDOW - len(window) >= BATCH:
                    batch = await asyncio.to_thread(self._read_signed, after)
                    after = batch[-1].row.seq if batch else after
                    exhausted = len(batch) < BATCH
                    for item in batch:
                        window.add(await self._send(js, item))
                    continue
                if not window:
                    break
                await window.settle_head()
                if len(window.acked.seqs) >= BATCH or not window:
                    marker = await self._mark_behind(marker, window.take_acked())
        finally:
            if marker is not None:
                await marker
            window.abandon()
            await self._mark(window.take_acked())
        if window.error is not None:
            log.warning("publisher.unacknowledged", count=window.failed, error=repr(window.error))
        return self._marked_total(), window.failed

    def _read_signed(self, after: int) -> list[_Signed]:
        """The next ``BATCH`` unpublished rows after seq *after*, with their headers (a row
        journalled without a signature is signed here, in the worker thread)."""
        rows = self._journal.unpublished(limit=BATCH, after_seq=after)
        return [_Signed(row, headers_for(row, self._key)) for row in rows]

    async def _send(self, js: JetStreamContext, item: _Signed) -> _InFlight:
        future = await js.publish_async(self._subject, item.row.body, headers=item.headers)
        return _InFlight(item.row.seq, item.row.key, future, time.monotonic() + ACK_TIMEOUT_S)

    async def _mark_behind(
        self, marker: asyncio.Future[None] | None, acked: _Acked
    ) -> asyncio.Future[None] | None:
        """Mark *acked* in a thread while the loop goes on; one marking at a time, so a
        failed one is raised here, before the next starts."""
        if marker is not None:
            await marker
        if not acked.seqs:
            return None
        return asyncio.ensure_future(self._mark(acked))

    async def _mark(self, acked: _Acked) -> None:
        if not acked.seqs:
            return
        await asyncio.to_thread(self._journal.mark_published, acked.seqs, now=self._clock())
        self._marked += len(acked.seqs)
        log.info(
            "publisher.published",
            count=len(acked.seqs),
            duplicates=acked.duplicates,
            subject=self._subject,
        )

    def _marked_total(self) -> int:
        total, self._marked = self._marked, 0
        return total


@dataclass(frozen=True)
class _Signed:
    """A journal row and the headers of its message (key and signature)."""

    row: JournalRow
    headers: dict[str, str]


@dataclass
class _Acked:
    """Acknowledged rows not yet marked published, and how many JetStream called repeats."""

    seqs: list[int] = field(default_factory=list)
    duplicates: int = 0


class _Window:
    """The messages in flight, oldest first, and what their acks said so far."""

    def __init__(self) -> None:
        self._inflight: deque[_InFlight] = deque()
        self.acked = _Acked()
        self.error: BaseException | None = None
        self.failed = 0

    def __len__(self) -> int:
        return len(self._inflight)

    def add(self, item: _InFlight) -> None:
        self._inflight.append(item)

    async def settle_head(self) -> None:
        """Wait for the oldest PubAck until its deadline, then take every settled one."""
        head = self._inflight[0]
        if not head.future.done():
            remaining = head.deadline - time.monotonic()
            await asyncio.wait([head.future], timeout=max(remaining, 0.0))
            if not head.future.done():
                head.future.cancel()  # frees its slot in the client's pending window
                self._fail(TimeoutError(f"no PubAck for {head.key} within {ACK_TIMEOUT_S:g} s"))
                self._inflight.popleft()
        while self._inflight and self._inflight[0].future.done():
            self._take(self._inflight.popleft())

    def take_acked(self) -> _Acked:
        acked, self.acked = self.acked, _Acked()
        return acked

    def abandon(self) -> None:
        """Cancel what is still in flight (the pass was interrupted); count it failed."""
        for item in self._inflight:
            if item.future.done():
                self._take(item)
            else:
                item.future.cancel()
                self.failed += 1
        self._inflight.clear()

    def _take(self, item: _InFlight) -> None:
        future = item.future
        error = (
            asyncio.CancelledError(f"{item.key} cancelled")
            if future.cancelled()
            else future.exception()
        )
        if error is not None:
            self._fail(error)
            return
        self.acked.seqs.append(item.seq)
        self.acked.duplicates += bool(future.result().duplicate)

    def _fail(self, error: BaseException) -> None:
        self.failed += 1
        if self.error is None:
            self.error = error


@dataclass(frozen=True)
class _InFlight:
    """A record sent and not yet acknowledged: its PubAck future and its deadline."""

    seq: int
    key: str
    future: asyncio.Future[PubAck]
    deadline: float


def _is_set(stop: asyncio.Event | None) -> bool:
    return stop is not None and stop.is_set()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _close(nc: NatsClient) -> None:
    try:
        await asyncio.wait_for(nc.close(), timeout=5)
    except (TimeoutError, OSError, NatsError) as exc:
        log.warning("publisher.close_failed", error=repr(exc))


async def _on_error(exc: Exception) -> None:
    log.warning("publisher.nats_error", error=repr(exc))


async def _on_reconnect() -> None:
    log.info("publisher.reconnected")
