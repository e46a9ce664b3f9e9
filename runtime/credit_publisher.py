"""The credit publisher: pending credit states from the database into the NATS KV bucket.

Runs beside every worker (``hero-onboarding worker`` and ``up``, when ``HERO_NATS_URL``
is set). It looks for rows the ledger marked ``pending`` every ``POLL_S`` and puts each
into the bucket ``HERO_NATS_CREDIT_BUCKET`` under ``acct.<address hex>``. A put is a
compare-and-set on the key's last revision, made only when the bucket holds an older
sequence number, so publishers running side by side never put an older state over a
newer one. The row is marked published only after the bucket acknowledged it: a process
killed between the commit and the put leaves the row pending, and whichever publisher
runs next puts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass
from typing import Any

import structlog

from actors.credit import active_plans, payload_of
from models import Account, db
from models.credit import CreditState
from wire.address import parse_address
from wire.nats import bucket_key
from wire.times import utcnow

log = structlog.get_logger("hero.credit")

#: Seconds between looks at the outbox when it was empty.
POLL_S = 0.05
#: Rows published per round (their puts run concurrently).
BATCH = 200
#: Seconds one NATS request may take.
TIMEOUT_S = 5.0
#: Compare-and-set attempts on one key before the row is left for the next round.
CAS_ATTEMPTS = 5
#: The longest pause, in seconds, after failures in a row.
MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class Pending:
    """One state to publish."""

    row_id: int
    seq: int
    key: str
    value: bytes


def pending(limit: int = BATCH) -> list[Pending]:
    """The states the bucket does not hold yet, oldest change first."""
    now = utcnow()
    rows: list[CreditState] = list(
        CreditState.select(CreditState, Account)
        .join(Account)
        .where(CreditState.pending == True)  # noqa: E712 - peewee expression
        .order_by(CreditState.updated_at)
        .limit(limit)
    )
    plans = active_plans([int(r.account_id) for r in rows], now)
    out = []
    for row in rows:
        payload = payload_of(row, row.account, now, plans=plans)
        key = bucket_key(parse_address(row.account.address).packed.hex())
        out.append(Pending(row.id, int(row.seq), key, json.dumps(payload, sort_keys=True).encode()))
    db.close()
    return out


def mark_published(done: list[tuple[int, int]]) -> None:
    """Record that the bucket holds sequence *seq* of each row (a newer change stays pending)."""
    if done:
        p = db.obj.param
        db.execute_sql(
            "UPDATE credit_state SET published_seq = v.seq, pending = (credit_state.seq > v.seq) "
            "FROM (SELECT column1 AS id, column2 AS seq FROM "
            f"(VALUES {', '.join([f'({p}, {p})'] * len(done))}) AS t) AS v "
            "WHERE credit_state.id = v.id AND credit_state.published_seq < v.seq",
            [x for pair in done for x in pair],
        )
    db.close()


def seq_of(value: bytes | None) -> int:
    """The sequence number of a bucket value (0 when unreadable).

    >>> seq_of(b'{"seq": 7}'), seq_of(b"junk"), seq_of(None)
    (7, 0, 0)
    """
    try:
        seq = json.loads(value or b"")["seq"]
    except (ValueError, KeyError, TypeError):
        return 0
    return seq if isinstance(seq, int) else 0


async def put_newest(kv: Any, item: Pending) -> bool:
    """Put *item* unless the bucket holds the same or a newer sequence; True when it holds
    *item*'s sequence or newer afterwards."""
    from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

    for _ in range(CAS_ATTEMPTS):
        try:
            entry = await kv.get(item.key)
            revision, current = entry.revision, seq_of(entry.value)
        except KeyNotFoundError as exc:  # a deleted key shows as not found, at its revision
            revision, current = getattr(getattr(exc, "entry", None), "revision", 0) or 0, 0
        if current >= item.seq:
            return True
        try:
            await kv.update(item.key, item.value, last=revision)
            return True
        except KeyWrongLastSequenceError:
            continue
    return False


async def open_bucket(js: Any, bucket: str) -> Any:
    """The bucket, created (history 1: the newest value per key) when missing."""
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        log.info("credit.bucket_created", bucket=bucket)
        return await js.create_key_value(bucket=bucket, history=1)


async def publish_round(kv: Any) -> tuple[int, int]:
    """Publish one batch of pending states; returns (published, failed)."""
    items = await asyncio.to_thread(pending)
    if not items:
        return 0, 0
    results = await asyncio.gather(*(put_newest(kv, i) for i in items), return_exceptions=True)
    done = [(i.row_id, i.seq) for i, ok in zip(items, results, strict=True) if ok is True]
    await asyncio.to_thread(mark_published, done)
    failed = len(items) - len(done)
    if done:
        log.info("credit.published", count=len(done), first_key=items[0].key)
    if failed:
        errors = [r for r in results if isinstance(r, BaseException)]
        log.warning("credit.publish_failed", count=failed, error=repr(errors[:1]))
    return len(done), failed


async def run_publisher(
    nats_url: str, bucket: str, stop: threading.Event, *, until_empty: bool = False
) -> None:
    """Publish pending states until *stop* (or, with *until_empty*, until none is left)."""
    import nats
    from nats.errors import Error as NatsError

    backoff = 0.5
    while not stop.is_set():
        nc = None
        try:
            nc = await nats.connect(
                nats_url, connect_timeout=2, allow_reconnect=False, name="hero credit publisher"
            )
            kv = await open_bucket(nc.jetstream(timeout=TIMEOUT_S), bucket)
            log.info("credit.publisher_started", bucket=bucket)
            while not stop.is_set():
                if nc.is_closed or not nc.is_connected:
                    raise ConnectionError("NATS connection lost")
                published, failed = await publish_round(kv)
                if until_empty and not published and not failed:
                    return
                if failed:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                elif published < BATCH:
                    backoff = 0.5
                    await asyncio.sleep(POLL_S)
        except (OSError, TimeoutError, NatsError, ConnectionError) as exc:
            log.warning("credit.publisher_disconnected", error=repr(exc), retry_in_s=backoff)
        except Exception as exc:  # noqa: BLE001 - the database or a bug: log, wait, go on
            log.exception("credit.publisher_crashed", error=repr(exc), retry_in_s=backoff)
        finally:
            if nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), timeout=2)
        stop.wait(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)


def start_publisher(nats_url: str, bucket: str, stop: threading.Event) -> threading.Thread:
    """Run the publisher in a daemon thread until *stop*."""
    thread = threading.Thread(
        target=lambda: asyncio.run(run_publisher(nats_url, bucket, stop)),
        name="credit-publisher",
        daemon=True,
    )
    thread.start()
    return thread
