"""The usage pipeline through git: N nodes x M hourly commits x R records, signed OTOML in
local bare repos (their paths are the nodes' repo URLs), registered with
``models.Node.create``; then ``hero-admin aggregate`` runs with ``HERO_AMQP_URL`` set, so
records travel as ``apply_usage_batch`` messages of 1000; timed from its launch to the
poll that sees the last record charged. The limits: raw batched SQL on the same database
(``limits.sql_usage_batches``), with ``usage_record`` rows and with slim 3-column rows,
and ``tomli`` parsing the same batch files (for the catch-up).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.limits import LIMIT_SCALE, Rate, toml_parse
from bench.report import Check, Figure, at_least
from bench.usage_data import make_nodes, write_repos
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
from tests.support.procs import BIN

#: The raw batched SQL limits (``limits.sql_usage_batches``), as the table names them.
SQL_LIMIT = "raw batched SQL, 1000/tx, usage_record rows"
SLIM_LIMIT = "raw batched SQL, 1000/tx, slim 3-col rows"
#: Goals: shares of the same-rows and of the slim-rows limit.
GOAL_SQL, GOAL_SLIM = at_least(0.75), at_least(0.40)


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
        proc = subprocess.Popen(
            [str(BIN / "hero-admin"), "node", "list", "--json"],
            env=st.env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    with PeakRss(proc.pid, interval_s=0.02) as rss:
        proc.wait(timeout=60)
    return rss.peak_mib


def measure_git(
    tag: str,
    shape: tuple[int, int, int],
    *,
    accounts: int,
    log_dir: Path,
    parse_limit: bool,
    slim_limit: bool,
    walkers: int | None = None,
) -> GitRun:
    """Write the repos, register the nodes, run a worker and ``hero-admin aggregate``
    (with ``--processes`` *walkers*, or its default: one walker per core)."""
    from models import Node

    nodes_n, commits_n, per_commit = shape
    with ExitStack() as stack:
        st = stack.enter_context(stage(tag, accounts, log_dir))
        root = Path(tempfile.mkdtemp(prefix=f"hero_bench_{tag}_"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        nodes = make_nodes(nodes_n, prefix=tag, seed=23)
        began = time.perf_counter()
        repos = write_repos(
            root / "repos", nodes, commits=commits_n, per_commit=per_commit, users=st.users, seed=29
        )
        write_s = time.perf_counter() - began
        for node in nodes:
            Node.create(
                name=node.name, repo_url=str(repos.paths[node.name]), pubkey_hex=node.pubkey
            )
        worker = start_worker(st, stack, f"{tag}-worker")
        assert worker.proc is not None
        time.sleep(0.5)
        worker_idle = idle_rss_mib(worker.proc.pid)
        out_path = log_dir / f"{tag}-aggregate.json"
        env = st.env(HERO_MIRROR_DIR=str(root / "mirrors"))
        worker_watch = Watched(worker.proc.pid).start()
        launched = time.perf_counter()
        with open(out_path, "wb") as out, open(log_dir / f"{tag}-aggregate.log", "ab") as err:
            aggregate = subprocess.Popen(
                [
                    str(BIN / "hero-admin"),
                    "aggregate",
                    "--json",
                    *(["--processes", str(walkers)] if walkers else []),
                ],
                env=env,
                stdout=out,
                stderr=err,
            )
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
            agg_cpu.update(
                process_cores=round((usage.ru_utime + usage.ru_stime) / (exited[0] - launched), 2),
                machine_busy=round(box.machine_busy, 2),
            )

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
                raise RuntimeError(
                    f"hero-admin aggregate exited {aggregate.returncode}; see {tag}-aggregate.log"
                )

        drain = wait_charged(
            st.database_url,
            repos.records,
            launched=launched,
            timeout_s=max(300.0, repos.records / 150),
            alive=[worker],
            tick=failed,
        )
        worker_watch.stop()
        reaper.join(timeout=120)
        if aggregate.returncode != 0:
            raise RuntimeError(
                f"hero-admin aggregate exited {aggregate.returncode}; see {tag}-aggregate.log"
            )
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
        parse = (
            toml_parse(repos.files, records=repos.sample_file_records, repeat=LIMIT_SCALE)
            if parse_limit
            else None
        )
    label = f"git {nodes_n}x{commits_n}x{per_commit}"
    checks = checks_for(
        label, totals, sent=repos.records, expected_cents=repos.expected_cents, worker=worker
    )
    handed = sum(int(r.get("records", 0)) for r in reports)
    bad = sum(int(r.get("quarantined", 0)) + int(r.get("rejected", 0)) for r in reports)
    checks.append(
        Check(
            f"{label}: aggregate handed over every record, cursors at the heads",
            handed == repos.records and bad == 0 and cursors == repos.heads,
            f"{handed} of {repos.records} records in {len(reports)} node reports, {bad} "
            f"quarantined/rejected, {sum(cursors[n] == h for n, h in repos.heads.items())} of "
            f"{len(repos.heads)} cursors at the head",
        )
    )
    return GitRun(
        shape=shape,
        records=repos.records,
        commits=repos.commits,
        file_bytes=repos.file_bytes,
        write_s=write_s,
        drain=drain,
        walk_s=walk_s,
        reports=reports,
        sql=sql,
        sql_slim=sql_slim,
        parse=parse,
        worker_rss_mib=worker_watch.rss.peak_mib,
        worker_idle_mib=worker_idle,
        worker_cpu=worker_watch.cpu.as_dict(),
        aggregator_rss_mib=agg_rss.peak_mib,
        aggregator_cpu=agg_cpu,
        cli_baseline_mib=baseline,
        checks=checks,
    )


def git_details(run: GitRun) -> dict[str, Any]:
    return {
        "records": run.records,
        "commits": run.commits,
        "file_bytes": run.file_bytes,
        "repo_write_s": round(run.write_s, 2),
        "walk_s": round(run.walk_s, 2),
        "charged": run.drain.as_dict(),
        "worker_threads": WORKER_THREADS,
        "worker_cpu": run.worker_cpu,
        "aggregator_cpu": run.aggregator_cpu,
        "sql_limit": {
            "records": run.sql.count,
            "seconds": round(run.sql.seconds, 3),
            "threads": run.sql.threads,
            "batch": 1000,
        },
    }


def shape_text(shape: tuple[int, int, int]) -> str:
    return f"{shape[0]}x{shape[1]}x{shape[2]}"


def git_figures(git: GitRun) -> list[Figure]:
    """The records/s through git, beside both raw SQL limits."""
    name = f"usage via git, records/s ({shape_text(git.shape)})"
    assert git.sql_slim is not None
    return [
        Figure(
            "usage",
            name,
            git.drain.per_s,
            "rec/s",
            SQL_LIMIT,
            git.sql.per_s,
            "",
            git_details(git),
            cpu=git.worker_cpu,
            goal=GOAL_SQL,
        ),
        Figure(
            "usage",
            name,
            git.drain.per_s,
            "rec/s",
            SLIM_LIMIT,
            git.sql_slim.per_s,
            "79k",
            {"sql_slim_limit": {"records": git.sql_slim.count, "seconds": git.sql_slim.seconds}},
            cpu=git.worker_cpu,
            goal=GOAL_SLIM,
        ),
    ]
