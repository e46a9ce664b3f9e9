"""The drain: after the load, wait for the work, not for a clock.

Each round pushes the journals that still hold records, pulls every node, retries parked
items, and reads every backlog the run can see: RabbitMQ queue depths of the run's vhost
(delay queues included), the bridge's JetStream consumer (pending and unacknowledged),
parked items, each journal's unpublished and unpushed records, and the accounts whose
balance is not the oracle's yet. It ends when all are empty and every balance is settled,
or when nothing moved for a stall window; then it names the backlogs still waiting, with
their counts. What never drains (dead-lettered messages, quarantined journal rows) is
reported apart.

"Moved" means work was done: a ledger entry or usage row written, a parked item resolved,
or the total backlog lower than it has been; a message bouncing between a queue and its
delay queue is not progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import nats
import psycopg2
from nats.js.errors import NotFoundError

from tests.chaos import check
from tests.chaos.oracle import Oracle
from tests.chaos.stack import ChaosStack, NodeAgent

#: The bridge's durable consumer (runtime/bridge.py ``DURABLE``).
BRIDGE_CONSUMER = "hero-bridge"
#: Seconds without progress after which the drain gives up and names what waits.
STALL_S = 120.0
#: The stall window when only delay queues hold messages: a retry may be due up to
#: ``RETRY_POLICY["max_backoff"]`` (300 s) later, plus a margin.
DELAYED_STALL_S = 330.0
#: Seconds between rounds.
ROUND_S = 3.0


@dataclass
class Drained:
    """How the drain ended."""

    seconds: float = 0.0
    rounds: int = 0
    settled: bool = False
    #: Backlogs still waiting when it stopped (name -> count); empty when settled.
    waiting: dict[str, int] = field(default_factory=dict)
    #: What is set aside and never drains (dead-lettered messages, quarantined journal
    #: rows), name -> count; always reported.
    dead: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.settled:
            text = f"drain {self.seconds:.1f}s ({self.rounds} rounds): every backlog empty"
        else:
            stuck = ", ".join(f"{k} {v}" for k, v in sorted(self.waiting.items())) or "nothing"
            text = f"drain stopped after {self.seconds:.1f}s, nothing moved: waiting on {stuck}"
        if self.dead:
            text += "; set aside: " + ", ".join(f"{k} {v}" for k, v in sorted(self.dead.items()))
        return text


def rabbitmq_depths(vhost: str) -> dict[str, int]:
    """Messages (ready and unacknowledged) in each queue of *vhost*."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        return {"rabbitmqctl failed": 1}
    depths = {}
    for line in done.stdout.splitlines():
        name, _, count = line.rpartition("\t")
        if name and count.strip().isdigit():
            depths[name] = int(count)
    return depths


def bridge_pending(url: str, stream: str) -> dict[str, int]:
    """The bridge consumer's pending (not yet delivered) and unacknowledged messages."""
    return asyncio.run(_bridge_pending(url, stream))


async def _bridge_pending(url: str, stream: str) -> dict[str, int]:
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        try:
            info: Any = await js.consumer_info(stream, BRIDGE_CONSUMER)
        except NotFoundError:
            return {"nats consumer missing": 1}
        return {
            "nats hero-bridge pending": int(info.num_pending or 0),
            "nats hero-bridge unacked": int(info.num_ack_pending or 0),
        }
    finally:
        await nc.close()


def journal_backlog(agent: NodeAgent) -> dict[str, int]:
    """A node's journalled records not yet published (NATS nodes), not yet pushed, and
    quarantined (set aside: they never drain)."""
    path = agent.env["HERO_NODE_JOURNAL"]
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    live = "quarantined_at IS NULL"
    try:
        found = {
            f"{agent.name} journal unpushed": _one(db, f"pushed_at IS NULL AND {live}"),
            f"{agent.name} journal quarantined": _one(db, f"NOT ({live})"),
        }
        if agent.nats:
            found[f"{agent.name} journal unpublished"] = _one(
                db, f"published_at IS NULL AND {live}"
            )
        return found
    finally:
        db.close()


def _one(db: sqlite3.Connection, where: str) -> int:
    (n,) = db.execute(f"SELECT count(*) FROM records WHERE {where}").fetchone()  # noqa: S608
    return int(n)


def _work_done(db_url: str) -> tuple[int, int, int]:
    """Counts that only grow while the product works: ledger, usage rows, resolved items."""
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM ledger_entry), (SELECT count(*) FROM usage_record),"
            " (SELECT count(*) FROM unmatched_item WHERE resolved_at IS NOT NULL)"
        )
        row = cur.fetchone()
        return int(row[0]), int(row[1]), int(row[2])


def backlogs(stack: ChaosStack, oracle: Oracle) -> tuple[dict[str, int], dict[str, int]]:
    """(waiting, dead): every non-empty backlog by name, and what is set aside."""
    found: dict[str, int] = {}
    dead: dict[str, int] = {}
    for name, n in rabbitmq_depths(stack.vhost).items():
        if name.endswith(".XQ"):
            if n:
                dead[f"rabbitmq {name}"] = n
        else:
            found[f"rabbitmq {name}"] = n
    try:
        found.update(bridge_pending(stack.direct_env["HERO_NATS_URL"], stack.stream))
    except Exception as exc:  # noqa: BLE001 - a backlog that cannot be read is one
        found[f"nats unreadable ({type(exc).__name__})"] = 1
    with psycopg2.connect(stack.db_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM unmatched_item WHERE resolved_at IS NULL")
        found["parked items"] = int(cur.fetchone()[0])
    for agent in stack.agents.values():
        try:
            journal = journal_backlog(agent)
        except sqlite3.Error as exc:
            found[f"{agent.name} journal unreadable ({exc})"] = 1
            continue
        for name, n in journal.items():
            if not name.endswith(" quarantined"):
                found[name] = n
            elif n:
                dead[name] = n
    balances = check.balances(stack.db_url)
    found["accounts not settled"] = sum(
        balances.get(a) != book.balance_cents for a, book in oracle.books.items()
    )
    return {k: v for k, v in found.items() if v}, dead


class Watch:
    """Decides when a drain has stalled: no work done and no new low of the backlog for
    the stall window (longer when only delay queues wait)."""

    def __init__(self, now: float, *, stall_s: float = STALL_S) -> None:
        self.stall_s = stall_s
        self.moved_at = now
        self.lowest: int | None = None
        self.done: tuple[int, ...] | None = None

    def stalled(self, now: float, waiting: dict[str, int], done: tuple[int, ...]) -> bool:
        total = sum(waiting.values())
        if done != self.done or self.lowest is None or total < self.lowest:
            self.moved_at = now
            self.done = done
            self.lowest = total if self.lowest is None else min(self.lowest, total)
        delayed_only = any(k.endswith(".DQ") for k in waiting) and all(
            k.endswith(".DQ") or k == "accounts not settled" for k in waiting
        )
        window = max(self.stall_s, DELAYED_STALL_S) if delayed_only else self.stall_s
        return now - self.moved_at > window


def drain(
    stack: ChaosStack, oracle: Oracle, *, stall_s: float = STALL_S, round_s: float = ROUND_S
) -> Drained:
    """Push, pull and retry until every backlog is empty and balances settle, or a stall."""
    began = time.monotonic()
    result = Drained()
    watch = Watch(began, stall_s=stall_s)
    flush_all = True
    while True:
        result.rounds += 1
        errors: list[str] = []
        for agent in stack.agents.values():
            with contextlib.suppress(Exception):
                backlog = journal_backlog(agent)
                if not flush_all and not any(
                    n for k, n in backlog.items() if not k.endswith(" quarantined")
                ):
                    continue
            flushed = stack.node_flush(agent)
            if flushed.returncode != 0:
                errors.append(f"{agent.name} flush: {flushed.stdout}{flushed.stderr}"[-500:])
        flush_all = False
        pulled = stack.admin("aggregate", "--json")
        if pulled.returncode != 0:
            errors.append(f"aggregate: {pulled.stdout}{pulled.stderr}"[-500:])
        stack.admin("unmatched", "retry")
        waiting, result.dead = backlogs(stack, oracle)
        result.seconds = time.monotonic() - began
        if not waiting and not errors:
            result.settled = True
            result.waiting = {}
            return result
        if watch.stalled(time.monotonic(), waiting, _work_done(stack.db_url)):
            result.waiting = waiting
            result.problems = [result.summary(), *errors]
            return result
        time.sleep(round_s)
