"""The usage pipeline: records/s through git and through NATS, the aggregator's catch-up,
and the memory of the worker, the bridge, the aggregator and a node agent under load.

Every run has its own PostgreSQL database and RabbitMQ vhost, accounts that never paid
(so every record is charged at x1 and the oracle is the sum of the amounts sent), and a
real ``hero-onboarding worker`` with ``WORKER_THREADS`` threads, started and ready before
the clock starts.

- git: N nodes x M hourly commits x R records, signed OTOML in local bare repos (their
  paths are the nodes' repo URLs), registered with ``models.Node.create``; then
  ``hero-admin aggregate`` runs with ``HERO_AMQP_URL`` set, so records travel as
  ``apply_usage_batch`` messages of 1000; timed from its launch to the poll that sees
  the last record charged. The catch-up is the same with 168 commits of 100 records per
  node, 10 nodes by default (``BENCH_CATCHUP=full``: 100 nodes, 1.68M records).
- NATS: K signed records published to a fresh stream (pipelined, by ``bench.nats_raw``),
  then a real ``hero-onboarding bridge`` is launched; timed from its launch to the last
  record charged.
- node agent: ``hero-node serve`` publishes K records from its journal to a fresh stream.

Limits, measured in the same run: raw batched SQL on the same database
(``limits.sql_usage_batches``), a raw JetStream pull consumer (fetch 500 + ack), raw
pipelined JetStream publishes, and ``tomli`` parsing the same batch files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.limits import LIMIT_SCALE, Rate, toml_parse
from bench.procs import result_of, spawn, stop
from bench.report import Check, Figure
from bench.usage_data import make_nodes, spread, write_repos
from bench.usage_run import (
    WORKER_THREADS,
    Drain,
    Stage,
    Watched,
    books,
    checks_for,
    idle_rss_mib,
    raw_sql_limit,
    stage,
    start_worker,
    wait_charged,
)
from bench.watch import CpuWindow, PeakRss
from tests.support.nats_helpers import NATS_URL, delete_stream
from tests.support.procs import BIN, HeroProcess, hero_env
from tests.support.services import free_port

#: The full catch-up the pipeline is sized for: 100 nodes x 168 hourly commits x 100 records.
FULL_CATCHUP = (100, 168, 100)
#: The raw batched SQL limits (``limits.sql_usage_batches``), as the table names them.
SQL_LIMIT = "raw batched SQL, 1000/tx, usage_record rows"
SLIM_LIMIT = "raw batched SQL, 1000/tx, slim 3-col rows"


@dataclass(frozen=True)
class UsageParams:
    """What the usage section runs (from ``BENCH_*``; see ``bench.main``)."""

    git_nodes: int = 5
    git_commits: int = 24
    git_records: int = 500
    nats_records: int = 30_000
    nats_nodes: int = 5
    catchup_nodes: int = 10
    catchup_commits: int = 168
    catchup_records: int = 100
    accounts: int = 200

    @property
    def catchup_full(self) -> bool:
        return (self.catchup_nodes, self.catchup_commits,
                self.catchup_records) == FULL_CATCHUP

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- git: the aggregator --------------------------------------------------------------------


@dataclass
class GitRun:
    """One aggregate from node repos to charged records, and its limits."""

    shape: tuple[int, int, int]  # nodes, commits per node, records per commit
    records: int
    commits: int
    file_bytes: int
    write_s: float
    drain: Drain
    walk_s: float  # hero-admin aggregate, launch to exit
    reports: list[dict[str, Any]]
    sql: Rate
    sql_slim: Rate | None
    parse: Rate | None
    worker_rss_mib: float
    worker_idle_mib: float
    worker_cpu: dict[str, float]
    aggregator_rss_mib: float
    aggregator_cpu: dict[str, float]
    cli_baseline_mib: float
    checks: list[Check] = field(default_factory=list)


def cli_baseline_rss(st: Stage, log_path: Path) -> float:
    """Peak RSS of ``hero-admin node list --json``: the same CLI without a walk."""
    with open(log_path, "ab") as err:
        proc = subprocess.Popen([str(BIN / "hero-admin"), "node", "list", "--json"],
                                env=st.env(), stdout=subprocess.DEVNULL, stderr=err)
    with PeakRss(proc.pid, interval_s=0.02) as rss:
        proc.wait(timeout=60)
    return rss.peak_mib


def measure_git(tag: str, shape: tuple[int, int, int], *, accounts: int, log_dir: Path,
                parse_limit: bool, slim_limit: bool) -> GitRun:
    """Write the repos, register the nodes, run a worker and ``hero-admin aggregate``."""
    from models import Node

    nodes_n, commits_n, per_commit = shape
    with ExitStack() as stack:
        st = stack.enter_context(stage(tag, accounts, log_dir))
        root = Path(tempfile.mkdtemp(prefix=f"hero_bench_{tag}_"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        nodes = make_nodes(nodes_n, prefix=tag, seed=23)
        began = time.perf_counter()
        repos = write_repos(root / "repos", nodes, commits=commits_n, per_commit=per_commit,
                            users=st.users, seed=29)
        write_s = time.perf_counter() - began
        for node in nodes:
            Node.create(name=node.name, repo_url=str(repos.paths[node.name]),
                        pubkey_hex=node.pubkey)
        worker = start_worker(st, stack, f"{tag}-worker")
        assert worker.proc is not None
        time.sleep(0.5)
        worker_idle = idle_rss_mib(worker.proc.pid)
        out_path = log_dir / f"{tag}-aggregate.json"
        env = st.env(HERO_MIRROR_DIR=str(root / "mirrors"))
        worker_watch = Watched(worker.proc.pid).start()
        launched = time.perf_counter()
        with open(out_path, "wb") as out, open(log_dir / f"{tag}-aggregate.log", "ab") as err:
            aggregate = subprocess.Popen([str(BIN / "hero-admin"), "aggregate", "--json"],
                                         env=env, stdout=out, stderr=err)
        agg_rss = PeakRss(aggregate.pid).start()
        box = CpuWindow(os.getpid()).start()  # for the share of the box busy
        exited: list[float] = []
        agg_cpu: dict[str, float] = {}

        def reap() -> None:
            # wait4, not wait: the CPU an exited process used is only known to its parent
            _, status, usage = os.wait4(aggregate.pid, 0)
            exited.append(time.perf_counter())
            aggregate.returncode = os.waitstatus_to_exitcode(status)
            agg_rss.stop()
            box.stop()
            agg_cpu.update(process_cores=round((usage.ru_utime + usage.ru_stime)
                                               / (exited[0] - launched), 2),
                           machine_busy=round(box.machine_busy, 2))

        def end() -> None:
            """On failure: stop the aggregate (signalled by pid: the reaper waits for it)."""
            for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
                if exited or not reaper.is_alive():
                    return
                with contextlib.suppress(ProcessLookupError):
                    os.kill(aggregate.pid, sig)
                reaper.join(grace)

        reaper = threading.Thread(target=reap, daemon=True)
        reaper.start()
        stack.callback(end)
        def failed(now: float) -> None:
            if exited and aggregate.returncode:
                raise RuntimeError(f"hero-admin aggregate exited {aggregate.returncode}; see "
                                   f"{tag}-aggregate.log")

        drain = wait_charged(st.database_url, repos.records, launched=launched,
                             timeout_s=max(300.0, repos.records / 150), alive=[worker],
                             tick=failed)
        worker_watch.stop()
        reaper.join(timeout=120)
        if aggregate.returncode != 0:
            raise RuntimeError(f"hero-admin aggregate exited {aggregate.returncode}; see "
                               f"{tag}-aggregate.log")
        walk_s = exited[0] - launched
        time.sleep(0.3)  # the last messages' log lines
        worker.stop()
        reports = json.loads(out_path.read_text() or "[]")
        out_path.unlink()
        totals = books(st.database_url)
        cursors = {n.name: n.cursor_commit for n in Node.select()}
        baseline = cli_baseline_rss(st, log_dir / f"{tag}-aggregate.log")
        sql = raw_sql_limit(st, repos.sample, via="git")
        sql_slim = raw_sql_limit(st, repos.sample, via="git", slim=True) if slim_limit else None
        parse = (toml_parse(repos.files, records=repos.sample_file_records, repeat=LIMIT_SCALE)
                 if parse_limit else None)
    label = f"git {nodes_n}x{commits_n}x{per_commit}"
    checks = checks_for(label, totals, sent=repos.records, expected_cents=repos.expected_cents,
                        worker=worker)
    handed = sum(int(r.get("records", 0)) for r in reports)
    bad = sum(int(r.get("quarantined", 0)) + int(r.get("rejected", 0)) for r in reports)
    checks.append(Check(
        f"{label}: aggregate handed over every record, cursors at the heads",
        handed == repos.records and bad == 0 and cursors == repos.heads,
        f"{handed} of {repos.records} records in {len(reports)} node reports, {bad} "
        f"quarantined/rejected, {sum(cursors[n] == h for n, h in repos.heads.items())} of "
        f"{len(repos.heads)} cursors at the head"))
    return GitRun(shape=shape, records=repos.records, commits=repos.commits,
                  file_bytes=repos.file_bytes, write_s=write_s, drain=drain, walk_s=walk_s,
                  reports=reports, sql=sql, sql_slim=sql_slim, parse=parse,
                  worker_rss_mib=worker_watch.rss.peak_mib, worker_idle_mib=worker_idle,
                  worker_cpu=worker_watch.cpu.as_dict(),
                  aggregator_rss_mib=agg_rss.peak_mib, aggregator_cpu=agg_cpu,
                  cli_baseline_mib=baseline,
                  checks=checks)


# -- NATS: the bridge ---------------------------------------------------------------------


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
        return {"num_pending": int(info.num_pending or 0),
                "num_ack_pending": int(info.num_ack_pending or 0),
                "num_redelivered": int(info.num_redelivered or 0),
                "delivered": int(info.delivered.stream_seq or 0) if info.delivered else 0}
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


def measure_nats(count: int, *, nodes_n: int, accounts: int, log_dir: Path) -> NatsRun:
    """Publish K signed records, then drain them with a real bridge and worker."""
    from models import Node

    with ExitStack() as stack:
        st = stack.enter_context(stage("nats", accounts, log_dir))
        stream, prefix = fresh_stream()
        stack.callback(delete_stream, stream)
        nodes = make_nodes(nodes_n, prefix="nats", seed=31)
        by_name = {n.name: n for n in nodes}
        for node in nodes:
            Node.create(name=node.name, repo_url="unused", pubkey_hex=node.pubkey)
        records = list(spread(nodes, count, users=st.users, seed=37))
        messages = log_dir / "nats-messages.tsv"
        stack.callback(messages.unlink, missing_ok=True)
        with open(messages, "w", encoding="utf-8") as out:
            for r in records:
                body = wire_body(r.to_json())  # compact JSON: no tab, no newline
                out.write(f"{prefix}.{r.node}\t{r.key}\t{by_name[r.node].sign_hex(body)}\t"
                          f"{body.decode()}\n")
        log_path = log_dir / "nats_raw.log"
        pub = spawn("bench.nats_raw", "publish", NATS_URL, stream, prefix, messages,
                    log_path=log_path, stdout=subprocess.PIPE)
        with PeakRss(pub.pid) as pub_rss:
            published = result_of(pub, timeout_s=180)

        worker = start_worker(st, stack, "nats-worker")
        assert worker.proc is not None
        time.sleep(0.5)
        worker_idle = idle_rss_mib(worker.proc.pid)
        env = st.env(HERO_NATS_URL=NATS_URL, HERO_NATS_STREAM=stream,
                     HERO_NATS_SUBJECT_PREFIX=prefix)
        worker_watch = Watched(worker.proc.pid).start()
        launched = time.perf_counter()
        bridge = HeroProcess("bridge", env, log_dir, name="nats-bridge").start()
        stack.callback(bridge.stop)
        assert bridge.proc is not None
        bridge_watch = Watched(bridge.proc.pid).start()
        drain = wait_charged(st.database_url, count, launched=launched,
                             timeout_s=max(300.0, count / 100), alive=[worker, bridge])
        bridge_watch.stop()
        worker_watch.stop()
        time.sleep(1.0)  # the last acks and log lines
        bridge.stop()
        worker.stop()
        consumer = asyncio.run(_consumer_state(stream, "hero-bridge"))
        totals = books(st.database_url)
        terminated = bridge.count_lines("bridge.message_terminated")

        con = spawn("bench.nats_raw", "consume", NATS_URL, stream, prefix, count,
                    "--durable", "bench-raw", "--batch", 500, log_path=log_path,
                    stdout=subprocess.PIPE)
        with PeakRss(con.pid) as con_rss:
            consumed = result_of(con, timeout_s=180)
        sql = raw_sql_limit(st, records, via="nats")
    label = f"NATS {count}"
    checks = [Check(f"{label}: published every record once",
                    published["published"] == count and published["duplicates"] == 0,
                    f"{published['published']} published, {published['duplicates']} dup.")]
    checks += checks_for(label, totals, sent=count, expected_cents=sum(
        r.amount_cents for r in records), worker=worker)
    checks.append(Check(
        f"{label}: bridge acked every message, terminated none",
        terminated == 0 and consumer["num_pending"] == 0 and consumer["num_ack_pending"] == 0,
        f"{terminated} terminated; consumer {consumer}"))
    checks.append(Check(f"{label}: raw pull consumer acked every message",
                        consumed["acked"] == count, f"{consumed['acked']} of {count}"))
    return NatsRun(records=count, publish=published, publisher_rss_mib=pub_rss.peak_mib,
                   drain=drain, consume=consumed, consumer_rss_mib=con_rss.peak_mib, sql=sql,
                   worker_rss_mib=worker_watch.rss.peak_mib, worker_idle_mib=worker_idle,
                   worker_cpu=worker_watch.cpu.as_dict(),
                   bridge_rss_mib=bridge_watch.rss.peak_mib,
                   bridge_cpu=bridge_watch.cpu.as_dict(), checks=checks)


# -- the node agent -----------------------------------------------------------------------


async def _stream_count(stream: str) -> int:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
    try:
        try:
            info = await nc.jetstream(timeout=5).stream_info(stream)
        except NotFoundError:
            return 0
        return int(info.state.messages)
    finally:
        await nc.close()


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
        with Journal(journal_path, node=node.name) as journal:
            for record in spread([node], count, users=mycelium_addresses(50), seed=43):
                journal.append(record, now=record.occurred_at)
        journal_s = time.perf_counter() - began
        env = hero_env(HERO_NODE_NAME=node.name, HERO_NODE_KEY=str(key_path),
                       HERO_NODE_JOURNAL=str(journal_path), HERO_NATS_URL=NATS_URL,
                       HERO_NATS_STREAM=stream, HERO_NATS_SUBJECT_PREFIX=prefix,
                       HERO_NODE_INTAKE_ADDR=f"127.0.0.1:{free_port()}",
                       HERO_NODE_COMMIT_INTERVAL_S="3600")
        log_path = log_dir / "node-agent.log"
        launched = time.perf_counter()
        with open(log_path, "ab") as log:
            agent = subprocess.Popen([str(BIN / "hero-node"), "serve"], env=env, stdout=log,
                                     stderr=subprocess.STDOUT)
        stack.callback(stop, agent)  # type: ignore[arg-type]
        watch = Watched(agent.pid).start()
        first: tuple[float, int] | None = None
        deadline = launched + max(120.0, count / 200)
        seen = 0
        while time.perf_counter() < deadline:
            seen, now = asyncio.run(_stream_count(stream)), time.perf_counter()
            if seen and first is None:
                first = (now, seen)
            if seen >= count:
                break
            if agent.poll() is not None:
                raise RuntimeError(f"hero-node serve exited {agent.returncode}; see "
                                   f"{log_path.name}")
            time.sleep(0.1)
        done = time.perf_counter()
        watch.stop()
        stop(agent)  # type: ignore[arg-type]
        if seen < count:
            raise TimeoutError(f"hero-node serve published {seen} of {count} records")
        with Journal(journal_path, node=node.name) as journal:
            counts = journal.counts()
    assert first is not None
    span = done - first[0]
    checks = [Check(f"node agent {count}: every journal record published once",
                    seen == count and counts.published == count,
                    f"stream holds {seen}, journal says {counts.published} of "
                    f"{counts.journalled} published")]
    return AgentRun(records=count, journal_s=journal_s, seconds=done - launched,
                    drain_per_s=(count - first[1]) / span if span > 0 else 0.0,
                    rss_mib=watch.rss.peak_mib, cpu=watch.cpu.as_dict(), checks=checks)


# -- the figures --------------------------------------------------------------------------


def _git_details(run: GitRun) -> dict[str, Any]:
    return {"records": run.records, "commits": run.commits, "file_bytes": run.file_bytes,
            "repo_write_s": round(run.write_s, 2), "walk_s": round(run.walk_s, 2),
            "charged": run.drain.as_dict(), "worker_threads": WORKER_THREADS,
            "worker_cpu": run.worker_cpu, "aggregator_cpu": run.aggregator_cpu,
            "sql_limit": {"records": run.sql.count, "seconds": round(run.sql.seconds, 3),
                          "threads": run.sql.threads, "batch": 1000}}


def _shape(shape: tuple[int, int, int]) -> str:
    return f"{shape[0]}x{shape[1]}x{shape[2]}"


def run(params: UsageParams, log_dir: Path) -> tuple[list[Figure], list[Check]]:
    """Measure the usage figures; the figures and the runs' checks."""
    figures: list[Figure] = []
    checks: list[Check] = []
    worker_rss: dict[str, tuple[float, float]] = {}
    git = measure_git("git", (params.git_nodes, params.git_commits, params.git_records),
                      accounts=params.accounts, log_dir=log_dir, parse_limit=False,
                      slim_limit=True)
    checks += git.checks
    name = f"usage via git, records/s ({_shape(git.shape)})"
    assert git.sql_slim is not None
    figures += [
        Figure("usage", name, git.drain.per_s, "rec/s", SQL_LIMIT, git.sql.per_s, "",
               _git_details(git), cpu=git.worker_cpu),
        Figure("usage", name, git.drain.per_s, "rec/s", SLIM_LIMIT, git.sql_slim.per_s, "79k",
               {"sql_slim_limit": {"records": git.sql_slim.count,
                                   "seconds": git.sql_slim.seconds}}, cpu=git.worker_cpu),
    ]
    worker_rss["git"] = (git.worker_rss_mib, git.worker_idle_mib)

    nats = measure_nats(params.nats_records, nodes_n=params.nats_nodes,
                        accounts=params.accounts, log_dir=log_dir)
    checks += nats.checks
    nats_details = {"records": nats.records, "charged": nats.drain.as_dict(),
                    "publish": nats.publish, "consume": nats.consume,
                    "worker_cpu": nats.worker_cpu, "bridge_cpu": nats.bridge_cpu,
                    "sql_limit": {"records": nats.sql.count, "seconds": nats.sql.seconds}}
    name = f"usage via NATS, records/s ({nats.records})"
    figures += [
        Figure("usage", name, nats.drain.per_s, "rec/s", SQL_LIMIT, nats.sql.per_s, "",
               nats_details, cpu=nats.worker_cpu),
        Figure("usage", name, nats.drain.per_s, "rec/s", "raw JetStream pull, fetch 500+ack",
               nats.consume["rate_per_s"], "37k", {"consume": nats.consume},
               cpu=nats.bridge_cpu, limit_unit="msg/s"),
    ]
    worker_rss["nats"] = (nats.worker_rss_mib, nats.worker_idle_mib)

    agent: AgentRun | None = None
    if node_agent_available():
        try:
            agent = measure_node_agent(params.nats_records, log_dir=log_dir)
        except Exception as exc:  # a node agent that does not work is reported, not fatal
            checks.append(Check(f"node agent {params.nats_records}: hero-node serve published "
                                "its journal", False, repr(exc)[:300]))
    if agent is not None:
        checks += agent.checks
        figures.append(Figure(
            "usage", f"node agent publish, records/s ({agent.records})",
            agent.records / agent.seconds, "rec/s", "raw JetStream publish, pipelined",
            nats.publish["rate_per_s"], "28k",
            {"launch_to_done_s": agent.seconds, "drain_per_s": agent.drain_per_s,
             "journal_fill_s": agent.journal_s, "publish": nats.publish},
            cpu=agent.cpu, limit_unit="msg/s"))

    catch = measure_git("catchup", (params.catchup_nodes, params.catchup_commits,
                                    params.catchup_records),
                        accounts=params.accounts, log_dir=log_dir, parse_limit=True,
                        slim_limit=False)
    checks += catch.checks
    worker_rss["catch-up"] = (catch.worker_rss_mib, catch.worker_idle_mib)
    assert catch.parse is not None
    details = _git_details(catch)
    per_commit = catch.shape[2]
    walk_rps = catch.records / catch.walk_s
    label = _shape(catch.shape)
    figures += [
        Figure("usage", f"catch-up {label}: walk ({catch.walk_s:.1f} s), commits/s",
               catch.commits / catch.walk_s,
               "commit/s", "tomli parse of the same files", catch.parse.per_s / per_commit,
               "1.3k", details, cpu=catch.aggregator_cpu, limit_unit="file/s"),
        Figure("usage", f"catch-up {label}: walk ({catch.walk_s:.1f} s), records/s",
               walk_rps, "rec/s",
               "tomli parse of the same files", catch.parse.per_s, "131k",
               {"parse": {"records": catch.parse.count, "seconds": catch.parse.seconds}},
               cpu=catch.aggregator_cpu),
        Figure("usage", f"catch-up {label}: all charged ({catch.drain.seconds:.1f} s), "
               "records/s", catch.drain.per_s, "rec/s", SQL_LIMIT, catch.sql.per_s, "", details,
               cpu=catch.worker_cpu),
    ]
    full_nodes, full_commits, full_records = FULL_CATCHUP
    full = full_nodes * full_commits * full_records
    scale = full / catch.records
    how = ("measured" if params.catchup_full
           else f"EXTRAPOLATED x{scale:g} from {label}")
    figures += [
        Figure("usage", f"catch-up {_shape(FULL_CATCHUP)} walk, s ({how})",
               catch.walk_s * scale, "s", "tomli parse alone, same records",
               full / catch.parse.per_s, "", {"scale": scale, "measured_walk_s": catch.walk_s}),
        Figure("usage", f"catch-up {_shape(FULL_CATCHUP)} to all charged, s ({how})",
               catch.drain.seconds * scale, "s", "raw batched SQL (as above), same records",
               full / catch.sql.per_s, "",
               {"scale": scale, "measured_s": catch.drain.seconds}),
    ]

    peak_run = max(worker_rss, key=lambda k: worker_rss[k][0])
    figures += [
        Figure("memory", f"usage worker peak RSS ({peak_run})", worker_rss[peak_run][0], "MiB",
               "same worker, idle after start", worker_rss[peak_run][1],
               details={k: {"peak_mib": round(v[0], 1), "idle_mib": round(v[1], 1)}
                        for k, v in worker_rss.items()}),
        Figure("memory", "bridge peak RSS", nats.bridge_rss_mib, "MiB",
               "raw nats-py pull consumer", nats.consumer_rss_mib),
        Figure("memory", f"aggregator peak RSS (catch-up {label})", catch.aggregator_rss_mib,
               "MiB", "hero-admin node list", catch.cli_baseline_mib,
               details={"git_run_peak_mib": git.aggregator_rss_mib}),
    ]
    if agent is not None:
        figures.append(Figure("memory", "node agent peak RSS (hero-node serve)", agent.rss_mib,
                              "MiB", "raw nats-py publisher", nats.publisher_rss_mib))
    return figures, checks
