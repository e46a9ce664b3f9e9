"""The node agent: ``hero-node serve`` publishes K records from its journal to a fresh
stream, beside raw pipelined JetStream publishes (``bench.nats_raw``) and the peak RSS of
that raw publisher.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import Check, Figure, at_least, under
from bench.usage_data import make_nodes, spread
from bench.usage_nats import fresh_stream
from bench.usage_run import (
    Watched,
)
from tests.support.nats_helpers import NATS_URL, delete_stream
from tests.support.procs import BIN, hero_env, stop
from tests.support.services import free_port

#: Goals: a share of the raw pipelined publisher's rate; peak RSS under 50 MiB.
GOAL_RATE, GOAL_RSS = at_least(0.70), under(50.0)
#: Seconds between looks at the stream while the agent publishes (its run lasts ~1.5 s).
WATCH_S = 0.02


async def _watch_stream(
    stream: str, count: int, agent: subprocess.Popen[bytes], *, deadline: float
) -> tuple[tuple[float, int] | None, float, int]:
    """Look at *stream*'s message count every ``WATCH_S`` over one connection until it
    holds *count*, *agent* exits or *deadline* passes (a new connection a look, every
    0.1 s, blurred a 1.5 s run by up to 0.1 s).

    Returns:
        The first look that saw messages (when, how many), when the last look was, and
        how many it saw.
    """
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
    js = nc.jetstream(timeout=5)
    first: tuple[float, int] | None = None
    seen = 0
    try:
        while time.perf_counter() < deadline and agent.poll() is None:
            try:
                seen = int((await js.stream_info(stream)).state.messages)
            except NotFoundError:
                seen = 0
            now = time.perf_counter()
            if seen and first is None:
                first = (now, seen)
            if seen >= count:
                return first, now, seen
            await asyncio.sleep(WATCH_S)
    finally:
        await nc.close()
    return first, time.perf_counter(), seen


@dataclass
class AgentRun:
    """``hero-node serve`` publishing K journal records."""

    records: int
    journal_s: float
    seconds: float  # launch to the stream holding every record
    drain_per_s: float
    rss_mib: float
    cpu: dict[str, float]
    checks: list[Check] = field(default_factory=list)


def node_agent_available() -> bool:
    return (BIN / "hero-node").exists()


def measure_node_agent(count: int, *, log_dir: Path) -> AgentRun:
    """Fill a journal with K records (``Journal.append``), then let ``hero-node serve``
    publish them to a fresh stream; timed from its launch to the stream holding all."""
    from bench.scratch import mycelium_addresses
    from node_agent.journal import Journal

    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="hero_bench_agent_"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        stream, prefix = fresh_stream()
        stack.callback(delete_stream, stream)
        (node,) = make_nodes(1, prefix="agent", seed=41)
        key_path = root / "node.key"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(node.key.encode().hex() + "\n")
        journal_path = root / f"{node.name}.journal.db"
        began = time.perf_counter()
        with Journal(journal_path, node=node.name, key=node.key) as journal:  # as serve's intake
            for record in spread([node], count, users=mycelium_addresses(50), seed=43):
                journal.append(record, now=record.occurred_at)
        journal_s = time.perf_counter() - began
        env = hero_env(
            HERO_NODE_NAME=node.name,
            HERO_NODE_KEY=str(key_path),
            HERO_NODE_JOURNAL=str(journal_path),
            HERO_NATS_URL=NATS_URL,
            HERO_NATS_STREAM=stream,
            HERO_NATS_SUBJECT_PREFIX=prefix,
            HERO_NODE_INTAKE_ADDR=f"127.0.0.1:{free_port()}",
            HERO_NODE_COMMIT_INTERVAL_S="3600",
        )
        log_path = log_dir / "node-agent.log"
        launched = time.perf_counter()
        with open(log_path, "ab") as log:
            agent = subprocess.Popen(
                [str(BIN / "hero-node"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        stack.callback(stop, agent)
        watch = Watched(agent.pid).start()
        deadline = launched + max(120.0, count / 200)
        first, done, seen = asyncio.run(_watch_stream(stream, count, agent, deadline=deadline))
        if seen < count and agent.poll() is not None:
            raise RuntimeError(f"hero-node serve exited {agent.returncode}; see {log_path.name}")
        watch.stop()
        stop(agent)
        if seen < count:
            raise TimeoutError(f"hero-node serve published {seen} of {count} records")
        with Journal(journal_path, node=node.name) as journal:
            counts = journal.counts()
    assert first is not None
    span = done - first[0]
    checks = [
        Check(
            f"node agent {count}: every journal record published once",
            seen == count and counts.published == count,
            f"stream holds {seen}, journal says {counts.published} of "
            f"{counts.journalled} published",
        )
    ]
    return AgentRun(
        records=count,
        journal_s=journal_s,
        seconds=done - launched,
        drain_per_s=(count - first[1]) / span if span > 0 else 0.0,
        rss_mib=watch.rss.peak_mib,
        cpu=watch.cpu.as_dict(),
        checks=checks,
    )


def agent_figures(
    agent: AgentRun, publish: dict[str, Any], publisher_rss_mib: float
) -> list[Figure]:
    """The agent's records/s and peak RSS, beside the raw publisher's."""
    return [
        Figure(
            "usage",
            f"node agent publish, records/s ({agent.records})",
            agent.records / agent.seconds,
            "rec/s",
            "raw JetStream publish, pipelined",
            publish["rate_per_s"],
            "28k",
            {
                "launch_to_done_s": agent.seconds,
                "drain_per_s": agent.drain_per_s,
                "journal_fill_s": agent.journal_s,
                "publish": publish,
            },
            cpu=agent.cpu,
            limit_unit="msg/s",
            goal=GOAL_RATE,
        ),
        Figure(
            "memory",
            "node agent peak RSS (hero-node serve)",
            agent.rss_mib,
            "MiB",
            "raw nats-py publisher",
            publisher_rss_mib,
            goal=GOAL_RSS,
        ),
    ]
