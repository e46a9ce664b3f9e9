"""Record to balance on the NATS path: signed records published at a steady rate while the
bench reads every account's balance; the time from each record's publish to the first
read of a balance that includes it, as p50, p99 and max.

A real ``hero-onboarding worker`` and ``hero-onboarding bridge`` run on a scratch
database, vhost and stream, started and ready before the first record. Every record
costs one cent (accounts that never paid are charged x1, so no carry), so an account
whose balance reads ``-k`` cents has had k of its records charged: the k first it was
sent, in publish order (JetStream keeps the stream's order and the bridge sends batches in
it; should two batches of one account commit out of order, the earlier record is counted
charged when the later one was, a batch early at most). The limit beside it, measured in
the same run at the same rate: a bare JetStream publish seen by a pull consumer fetching
as the bridge does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg2

from bench.report import Check, Figure, under
from bench.usage_data import make_nodes, make_records
from bench.usage_nats import fresh_stream, wire_body
from bench.usage_run import books, stage, start_worker
from tests.support.nats_helpers import NATS_URL, delete_stream
from tests.support.procs import HeroProcess

#: The goal: p99 from publish to balance under a second.
GOAL_P99 = under(1.0)
#: Seconds between the bench's reads of the balances.
POLL_S = 0.02
#: Seconds the bare JetStream limit publishes for.
LIMIT_SECONDS = 5.0
#: Messages per fetch and the fetch's wait, as the bridge fetches (``runtime.bridge``).
FETCH_BATCH, FETCH_TIMEOUT_S = 1000, 1.0


def pct(values: list[float], share: float) -> float:
    """The *share* percentile of *values* (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclasses.dataclass(frozen=True)
class Message:
    """One record as published: subject, id, signature header, body, and its account."""

    subject: str
    key: str
    signature: str
    body: bytes
    user: str


def messages(count: int, users: list[str], prefix: str, *, nodes_n: int = 5) -> list[Message]:
    """*count* one-cent records, round-robin over *users* and ``nodes_n`` nodes."""
    nodes = make_nodes(nodes_n, prefix="lat", seed=41)
    rng = random.Random(43)
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    hour = moment.replace(minute=0, second=0)
    made = []
    for i in range(count):
        node = nodes[i % len(nodes)]
        (record,) = make_records(node, 1, hour=hour, users=users, rng=rng)
        record = dataclasses.replace(
            record, user=users[i % len(users)], amount_cents=1, occurred_at=moment
        )
        body = wire_body(record.to_json())
        made.append(
            Message(f"{prefix}.{node.name}", record.key, node.sign_hex(body), body, record.user)
        )
    return made


def node_keys(nodes_n: int = 5) -> dict[str, str]:
    return {n.name: n.pubkey for n in make_nodes(nodes_n, prefix="lat", seed=41)}


async def publish_steady(
    batch: list[Message], rate: float, stream: str, prefix: str, sent: list[float]
) -> int:
    """Publish *batch* at *rate* a second (acks awaited in the background), appending each
    publish's ``perf_counter`` to *sent*; the number JetStream acknowledged."""
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=2)
    try:
        js = nc.jetstream(timeout=10)
        pending: list[asyncio.Future[Any]] = []
        began = time.perf_counter()
        for i, m in enumerate(batch):
            due = began + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            sent.append(time.perf_counter())
            pending.append(asyncio.ensure_future(_publish(js, m)))
        acks = await asyncio.gather(*pending)
        return len(acks)
    finally:
        await nc.close()


async def _publish(js: Any, m: Message, *, attempts: int = 5) -> Any:
    """Publish *m* until JetStream acknowledges it, as a node agent sends again (the same
    ``Nats-Msg-Id``, so a repeat is dropped); its time stays that of the first send."""
    import nats

    headers = {"Nats-Msg-Id": m.key, "Hero-Signature": m.signature}
    for attempt in range(attempts):
        try:
            return await js.publish(m.subject, m.body, headers=headers)
        except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError, TimeoutError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    return None


async def bare_latency(rate: float, seconds: float) -> list[float]:
    """The limit: messages published at *rate* to a fresh stream, each timed until a pull
    consumer fetching as the bridge does received it."""
    import nats

    stream, prefix = fresh_stream()
    nc = await nats.connect(NATS_URL, connect_timeout=2)
    seen: dict[str, float] = {}
    count = max(1, int(rate * seconds))
    try:
        js = nc.jetstream(timeout=10)
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        sub = await js.pull_subscribe(f"{prefix}.>", durable="bench-latency", stream=stream)

        async def consume() -> None:
            while len(seen) < count:
                try:
                    got = await sub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                now = time.perf_counter()
                for msg in got:
                    seen.setdefault(msg.data.decode(), now)
                    await msg.ack()

        consumer = asyncio.ensure_future(consume())
        sent: dict[str, float] = {}
        began = time.perf_counter()
        for i in range(count):
            wait = began + i / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            sent[str(i)] = time.perf_counter()
            await js.publish(f"{prefix}.n", str(i).encode())
        await asyncio.wait_for(consumer, timeout=60)
        await js.delete_stream(stream)
    finally:
        await nc.close()
    return [seen[k] - sent[k] for k in sent]


def watch_balances(
    database_url: str,
    batch: list[Message],
    sent: list[float],
    *,
    timeout_s: float,
    gave_up: Callable[[], bool] = lambda: False,
) -> list[float | None]:
    """Read every account's balance each ``POLL_S`` until all of *batch* is charged (or
    *gave_up* says the publisher stopped short); each record's time from its publish to
    the first read that included it (None: never)."""
    order: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(batch):
        order[m.user].append(i)
    latency: list[float | None] = [None] * len(batch)
    charged: dict[str, int] = defaultdict(int)
    left = len(batch)
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    deadline = time.perf_counter() + timeout_s
    try:
        with conn.cursor() as cur:
            while left and time.perf_counter() < deadline and not gave_up():
                cur.execute(
                    "SELECT a.address, b.balance_cents FROM billing b "
                    "JOIN account a ON a.id = b.account_id"
                )
                rows = cur.fetchall()
                now = time.perf_counter()
                for address, balance in rows:
                    k = min(-int(balance), len(order.get(address, ())))
                    for i in order.get(address, [])[charged[address] : k]:
                        if i < len(sent):  # published by now
                            latency[i] = now - sent[i]
                            left -= 1
                    charged[address] = max(charged[address], k)
                time.sleep(POLL_S)
    finally:
        conn.close()
    return latency


def run(
    rate: int, seconds: int, accounts: int, log_dir: Path, *, fill_ms: int | None = None
) -> tuple[list[Figure], list[Check]]:
    """Publish ``rate x seconds`` records at *rate* a second over *accounts* accounts
    (the bridge filling each batch for *fill_ms*, or for its default)."""
    from models import Node

    count = rate * seconds
    with ExitStack() as stack:
        st = stack.enter_context(stage("latency", accounts, log_dir))
        stream, prefix = fresh_stream()
        stack.callback(delete_stream, stream)
        for name, pubkey in node_keys().items():
            Node.create(name=name, repo_url="unused", pubkey_hex=pubkey)
        batch = messages(count, st.users, prefix)
        worker = start_worker(st, stack, "latency-worker")
        env = st.env(
            HERO_NATS_URL=NATS_URL,
            HERO_NATS_STREAM=stream,
            HERO_NATS_SUBJECT_PREFIX=prefix,
            **({} if fill_ms is None else {"HERO_BRIDGE_FILL_MS": str(fill_ms)}),
        )
        bridge = HeroProcess("bridge", env, log_dir, name="latency-bridge").start()
        stack.callback(bridge.stop)
        bridge.wait_for_log("bridge.started", timeout=60)
        sent: list[float] = []
        acked: list[int] = []
        publisher = threading.Thread(
            target=lambda: acked.append(
                asyncio.run(publish_steady(batch, rate, stream, prefix, sent))
            )
        )
        load = os.getloadavg()[0]
        publisher.start()
        latency = watch_balances(
            st.database_url,
            batch,
            sent,
            timeout_s=seconds + 120,
            gave_up=lambda: not publisher.is_alive() and not acked,
        )
        publisher.join()
        totals = books(st.database_url)
        failed = worker.count_lines("message.processed", '"outcome": "failed"')
        batches = worker.count_lines("usage.batch_applied")
    raw = asyncio.run(bare_latency(rate, LIMIT_SECONDS))
    seen = [v for v in latency if v is not None]
    label = f"latency {count} at {rate}/s"
    checks = [
        Check(
            f"{label}: every record published, charged once, seen in a balance",
            acked == [count]
            and len(seen) == count
            and totals["records"] == count
            and totals["distinct_keys"] == count
            and failed == 0,
            f"{acked} acked, {len(seen)} seen, {totals['records']} usage records "
            f"({totals['distinct_keys']} keys), {failed} failed messages",
        )
    ]
    details = {
        "records": count,
        "rate_per_s": rate,
        "accounts": accounts,
        "poll_s": POLL_S,
        "mean_s": round(sum(seen) / len(seen), 4) if seen else None,
        "load_1m_at_start": round(load, 1),
        "cores": os.cpu_count(),
        "limit_messages": len(raw),
        "batches": batches,
        "bridge_fill_ms": "default" if fill_ms is None else fill_ms,
    }
    return figures(seen, raw, details), checks


def figures(seen: list[float], raw: list[float], details: dict[str, Any]) -> list[Figure]:
    """p50, p99 (the goal) and max, each beside the bare JetStream figure of the run."""
    if not seen or not raw:
        return []
    limit = "bare JetStream publish to pull fetch"
    made = [
        Figure(
            "latency",
            f"record to balance, NATS path, {name}",
            pick(seen),
            "s",
            f"{limit}, {name}",
            pick(raw),
            details=details,
            goal=GOAL_P99 if name == "p99" else None,
        )
        for name, pick in (
            ("p50", lambda v: pct(v, 0.50)),
            ("p99", lambda v: pct(v, 0.99)),
            ("max", max),
        )
    ]
    return made
