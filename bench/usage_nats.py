"""The usage pipeline through NATS: K signed records published to a fresh stream
(pipelined, by ``bench.nats_raw``), then a real ``hero-onboarding bridge`` is launched;
timed from its launch to the last record charged. The limits: a raw JetStream pull
consumer (fetch 500 + ack) on the same stream, raw batched SQL on the same database.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.limits import Rate
from bench.report import Check, Figure, at_least
from bench.usage_data import make_nodes, spread
from bench.usage_git import SQL_LIMIT
from bench.usage_run import (
    Drain,
    Watched,
    books,
    checks_for,
    idle_rss_mib,
    raw_sql_limit,
    stage,
    start_worker,
    wait_charged,
)
from bench.watch import PeakRss
from tests.support.nats_helpers import NATS_URL, delete_stream
from tests.support.procs import HeroProcess, result_of, spawn

#: Goal: a share of the raw pull consumer's rate.
GOAL_PULL = at_least(0.65)


def fresh_stream() -> tuple[str, str]:
    uid = uuid.uuid4().hex[:10]
    return f"HEROBENCH{uid}", f"herobench{uid}.usage"


def wire_body(record_json: dict[str, Any]) -> bytes:
    """The NATS body of a record (DESIGN §7, as the node agent writes it)."""
    return json.dumps(record_json, sort_keys=True, separators=(",", ":")).encode()


async def _consumer_state(stream: str, durable: str) -> dict[str, int]:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
    try:
        info = await nc.jetstream(timeout=5).consumer_info(stream, durable)
        return {
            "num_pending": int(info.num_pending or 0),
            "num_ack_pending": int(info.num_ack_pending or 0),
            "num_redelivered": int(info.num_redelivered or 0),
            "delivered": int(info.delivered.stream_seq or 0) if info.delivered else 0,
        }
    finally:
        await nc.close()


@dataclass
class NatsRun:
    """K records through the bridge and a worker, and their limits."""

    records: int
    publish: dict[str, Any]
    publisher_rss_mib: float
    drain: Drain
    consume: dict[str, Any]
    consumer_rss_mib: float
    sql: Rate
    worker_rss_mib: float
    worker_idle_mib: float
    worker_cpu: dict[str, float]
    bridge_rss_mib: float
    bridge_cpu: dict[str, float]
    checks: list[Check] = field(default_factory=list)


def measure_nats(
    count: int, *, nodes_n: int, accounts: int, log_dir: Path, worker_processes: int = 1
) -> NatsRun:
    """Publish K signed records, then drain them with a real bridge and worker (of
    *worker_processes* processes)."""
    from models import Node

    with ExitStack() as stack:
        tag = "nats" if worker_processes == 1 else f"nats{worker_processes}p"
        st = stack.enter_context(stage(tag, accounts, log_dir))
        stream, prefix = fresh_stream()
        stack.callback(delete_stream, stream)
        nodes = make_nodes(nodes_n, prefix="nats", seed=31)
        by_name = {n.name: n for n in nodes}
        for node in nodes:
            Node.create(name=node.name, repo_url="unused", pubkey_hex=node.pubkey)
        records = list(spread(nodes, count, users=st.users, seed=37))
        messages = log_dir / f"{tag}-messages.tsv"
        stack.callback(messages.unlink, missing_ok=True)
        with open(messages, "w", encoding="utf-8") as out:
            for r in records:
                body = wire_body(r.to_json())  # compact JSON: no tab, no newline
                out.write(
                    f"{prefix}.{r.node}\t{r.key}\t{by_name[r.node].sign_hex(body)}\t"
                    f"{body.decode()}\n"
                )
        log_path = log_dir / "nats_raw.log"
        pub = spawn(
            "bench.nats_raw",
            "publish",
            NATS_URL,
            stream,
            prefix,
            messages,
            log_path=log_path,
            stdout=subprocess.PIPE,
        )
        with PeakRss(pub.pid) as pub_rss:
            published = result_of(pub, timeout_s=180)

        worker = start_worker(st, stack, f"{tag}-worker", processes=worker_processes)
        assert worker.proc is not None
        time.sleep(0.5)
        worker_idle = idle_rss_mib(worker.proc.pid)
        env = st.env(
            HERO_NATS_URL=NATS_URL, HERO_NATS_STREAM=stream, HERO_NATS_SUBJECT_PREFIX=prefix
        )
        worker_watch = Watched(worker.proc.pid).start()
        launched = time.perf_counter()
        bridge = HeroProcess("bridge", env, log_dir, name=f"{tag}-bridge").start()
        stack.callback(bridge.stop)
        assert bridge.proc is not None
        bridge_watch = Watched(bridge.proc.pid).start()
        drain = wait_charged(
            st.database_url,
            count,
            launched=launched,
            timeout_s=max(300.0, count / 100),
            alive=[worker, bridge],
        )
        bridge_watch.stop()
        worker_watch.stop()
        time.sleep(1.0)  # the last acks and log lines
        bridge.stop()
        worker.stop()
        consumer = asyncio.run(_consumer_state(stream, "hero-bridge"))
        totals = books(st.database_url)
        terminated = bridge.count_lines("bridge.message_terminated")

        con = spawn(
            "bench.nats_raw",
            "consume",
            NATS_URL,
            stream,
            prefix,
            count,
            "--durable",
            "bench-raw",
            "--batch",
            500,
            log_path=log_path,
            stdout=subprocess.PIPE,
        )
        with PeakRss(con.pid) as con_rss:
            consumed = result_of(con, timeout_s=180)
        sql = raw_sql_limit(st, records, via="nats")
    label = f"NATS {count}" + (
        f", {worker_processes} worker processes" if worker_processes > 1 else ""
    )
    checks = [
        Check(
            f"{label}: published every record once",
            published["published"] == count and published["duplicates"] == 0,
            f"{published['published']} published, {published['duplicates']} dup.",
        )
    ]
    checks += checks_for(
        label,
        totals,
        sent=count,
        expected_cents=sum(r.amount_cents for r in records),
        worker=worker,
    )
    checks.append(
        Check(
            f"{label}: bridge acked every message, terminated none",
            terminated == 0 and consumer["num_pending"] == 0 and consumer["num_ack_pending"] == 0,
            f"{terminated} terminated; consumer {consumer}",
        )
    )
    checks.append(
        Check(
            f"{label}: raw pull consumer acked every message",
            consumed["acked"] == count,
            f"{consumed['acked']} of {count}",
        )
    )
    return NatsRun(
        records=count,
        publish=published,
        publisher_rss_mib=pub_rss.peak_mib,
        drain=drain,
        consume=consumed,
        consumer_rss_mib=con_rss.peak_mib,
        sql=sql,
        worker_rss_mib=worker_watch.rss.peak_mib,
        worker_idle_mib=worker_idle,
        worker_cpu=worker_watch.cpu.as_dict(),
        bridge_rss_mib=bridge_watch.rss.peak_mib,
        bridge_cpu=bridge_watch.cpu.as_dict(),
        checks=checks,
    )


def nats_figures(nats: NatsRun) -> list[Figure]:
    """The records/s through the bridge, beside raw SQL and a raw pull consumer."""
    details = {
        "records": nats.records,
        "charged": nats.drain.as_dict(),
        "publish": nats.publish,
        "consume": nats.consume,
        "worker_cpu": nats.worker_cpu,
        "bridge_cpu": nats.bridge_cpu,
        "sql_limit": {"records": nats.sql.count, "seconds": nats.sql.seconds},
    }
    name = f"usage via NATS, records/s ({nats.records})"
    return [
        Figure(
            "usage",
            name,
            nats.drain.per_s,
            "rec/s",
            SQL_LIMIT,
            nats.sql.per_s,
            "",
            details,
            cpu=nats.worker_cpu,
        ),
        Figure(
            "usage",
            name,
            nats.drain.per_s,
            "rec/s",
            "raw JetStream pull, fetch 500+ack",
            nats.consume["rate_per_s"],
            "37k",
            {"consume": nats.consume},
            cpu=nats.bridge_cpu,
            limit_unit="msg/s",
            goal=GOAL_PULL,
        ),
        Figure(
            "memory",
            "bridge peak RSS",
            nats.bridge_rss_mib,
            "MiB",
            "raw nats-py pull consumer",
            nats.consumer_rss_mib,
        ),
    ]


def scale_out_figure(one: NatsRun, more: NatsRun, processes: int) -> Figure:
    """Records/s through NATS with *processes* worker processes beside one process, same
    records, same run (the ratio is what the further processes add)."""
    return Figure(
        "usage",
        f"usage via NATS, {processes} worker processes, records/s ({more.records})",
        more.drain.per_s,
        "rec/s",
        "the same with 1 worker process",
        one.drain.per_s,
        details={
            "charged": more.drain.as_dict(),
            "one_process": one.drain.as_dict(),
            "worker_cpu_first_process": more.worker_cpu,
        },
        cpu=more.worker_cpu,
    )
