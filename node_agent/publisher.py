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
from collections.abc import Callable

import nacl.signing
import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from node_agent.journal import Journal, JournalRow
from node_agent.keys import sign_hex

log = structlog.get_logger("hero.node.publisher")

#: Header carrying the record key, JetStream's deduplication id.
MSG_ID_HEADER = "Nats-Msg-Id"
#: Header carrying the hex Ed25519 signature of the body.
SIGNATURE_HEADER = "Hero-Signature"
#: Records published per round (their PubAcks are awaited together).
BATCH = 256
#: Seconds to wait for one PubAck.
ACK_TIMEOUT_S = 5.0
#: Seconds between looks at the journal when nothing woke the publisher.
POLL_S = 0.25
#: Seconds to wait after a failed round or connection, doubling up to ``MAX_BACKOFF_S``.
MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0


def subject_for(prefix: str, node: str) -> str:
    """The subject a node publishes on.

    >>> subject_for("hero.usage", "node-a")
    'hero.usage.node-a'
    """
    return f"{prefix}.{node}"


def headers_for(row: JournalRow, key: nacl.signing.SigningKey) -> dict[str, str]:
    """The headers of *row*'s message: its key and the signature of its body."""
    return {MSG_ID_HEADER: row.key, SIGNATURE_HEADER: sign_hex(key, row.body)}


async def ensure_stream(js: nats.js.JetStreamContext, *, stream: str, prefix: str) -> None:
    """Create *stream* on ``<prefix>.>`` unless it exists (an existing one is left alone)."""
    try:
        await js.stream_info(stream)
        return
    except NotFoundError:
        pass
    try:
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        log.info("publisher.stream_created", stream=stream, subjects=f"{prefix}.>")
    except nats.js.errors.BadRequestError:
        await js.stream_info(stream)  # created meanwhile by someone else: fine if it exists


class Publisher:
    """Publishes a journal to JetStream until stopped; reconnects and retries forever."""

    def __init__(self, journal: Journal, *, key: nacl.signing.SigningKey, nats_url: str,
                 stream: str, subject_prefix: str,
                 clock: Callable[[], dt.datetime]) -> None:
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
                    self._url, name=f"hero-node {self._journal.node}", connect_timeout=2,
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                    error_cb=_on_error, disconnected_cb=self._on_disconnect,
                    reconnected_cb=_on_reconnect,
                )
            except (TimeoutError, OSError, NatsError) as exc:
                log.warning("publisher.connect_failed", url=self._url, error=repr(exc))
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            try:
                js = nc.jetstream(timeout=ACK_TIMEOUT_S)
                await ensure_stream(js, stream=self._stream, prefix=self._prefix)
                log.info("publisher.connected", url=self._url, stream=self._stream,
                         subject=self._subject)
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

    async def _publish_until(self, stop: asyncio.Event, js: nats.js.JetStreamContext) -> None:
        backoff = MIN_BACKOFF_S
        while not stop.is_set():
            self._wake.clear()
            sent, failed = await self.publish_pending(js)
            if failed:
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            elif sent < BATCH:
                backoff = MIN_BACKOFF_S
                waiters = [asyncio.ensure_future(e.wait()) for e in (stop, self._wake)]
                await asyncio.wait(waiters, timeout=POLL_S,
                                   return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()

    async def publish_pending(self, js: nats.js.JetStreamContext) -> tuple[int, int]:
        """Publish one batch of unpublished records; returns (acknowledged, failed)."""
        rows = await asyncio.to_thread(self._journal.unpublished, limit=BATCH)
        if not rows:
            return 0, 0
        results = await asyncio.gather(
            *(js.publish(self._subject, row.body, timeout=ACK_TIMEOUT_S,
                         headers=headers_for(row, self._key)) for row in rows),
            return_exceptions=True,
        )
        acked = [row.seq for row, result in zip(rows, results, strict=True)
                 if not isinstance(result, BaseException)]
        duplicates = sum(1 for r in results if getattr(r, "duplicate", False))
        errors = [r for r in results if isinstance(r, BaseException)]
        await asyncio.to_thread(self._journal.mark_published, acked, now=self._clock())
        if acked:
            log.info("publisher.published", count=len(acked), duplicates=duplicates,
                     first=rows[0].key, subject=self._subject)
        if errors:
            log.warning("publisher.unacknowledged", count=len(errors), error=repr(errors[0]))
        return len(acked), len(errors)


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
