"""``python -m bench``: run every section, print the table, write ``var/bench.json``.

Environment: ``BENCH_WEBHOOKS`` (default 3000) signed webhooks, ``BENCH_MESSAGES``
(default 5000) apply_payment messages; the usage pipeline: ``BENCH_GIT_NODES`` (5) x
``BENCH_GIT_COMMITS`` (24) hourly commits x ``BENCH_GIT_RECORDS`` (500) records through
git, ``BENCH_NATS_RECORDS`` (30000) records through NATS (and published by a node agent),
``BENCH_USAGE_ACCOUNTS`` (200) accounts, the catch-up ``BENCH_CATCHUP_NODES`` (10) x 168
commits x 100 records, or ``BENCH_CATCHUP=full`` for 100 x 168 x 100 (1.68M records, long);
``BENCH_WORKER_PROCESSES`` (1) above 1 runs the NATS records again with that many worker
processes, set beside the run with one; ``BENCH_USAGE_PARTS`` (default
``git,nats,agent,catchup``) picks the runs of the usage section (the node agent's limit
is the NATS run's, so ``agent`` needs ``nats``).
The credit section: ``BENCH_CREDIT_CHANGES`` (400) changes timed from their commit to the
node agent's answer, over ``BENCH_CREDIT_ACCOUNTS`` (200) accounts, under load.
The latency section: records published over NATS at ``BENCH_LATENCY_RATE`` (500) a
second for ``BENCH_LATENCY_SECONDS`` (20), timed from publish to balance.
``BENCH_SECTIONS`` (default ``webhooks,payments,usage,credit,latency``) picks the sections
to run.
Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres), RabbitMQ on
127.0.0.1:5672 (guest) and ``rabbitmqctl``; the usage, credit and latency sections NATS
JetStream on 127.0.0.1:4222.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from rich.console import Console

from bench import credit_latency, payments, usage, usage_latency, usage_run, webhooks
from bench.limits import LIMIT_SCALE
from bench.report import Check, Figure, render, write_json
from tests.support.procs import REPO
from tests.support.services import amqp_reachable, nats_reachable, pg_reachable

#: Where the figures are written, relative to the repository.
JSON_PATH = Path("var") / "bench.json"
#: Where the processes' logs are kept (overwritten by the next run).
LOG_DIR = Path("var") / "bench-logs"
#: Sections in the order they appear in the table.
SECTIONS = ("webhooks", "payments", "usage", "latency", "credit", "memory")
#: What ``BENCH_SECTIONS`` may name, in the order they run.
RUNNABLE = ("webhooks", "payments", "usage", "credit", "latency")
#: Exit codes: all figures measured and every check passed / a check failed or a section
#: broke / a service the bench needs is not running / interrupted (Ctrl-C).
EXIT_OK, EXIT_FAILED, EXIT_NO_SERVICES, EXIT_INTERRUPTED = 0, 1, 2, 130


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"bench: {name}: not an integer: {raw!r}") from None
    if value < 1:
        raise SystemExit(f"bench: {name}: must be at least 1, not {value}")
    return value


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds every finally: processes, vhosts, databases


def _usage_params() -> usage.UsageParams:
    catchup = os.environ.get("BENCH_CATCHUP", "").strip().lower()
    if catchup not in ("", "scaled", "full"):
        raise SystemExit(f"bench: BENCH_CATCHUP: 'full' or unset, not {catchup!r}")
    full_nodes, commits, records = usage.FULL_CATCHUP
    return usage.UsageParams(
        git_nodes=_positive_int("BENCH_GIT_NODES", 5),
        git_commits=_positive_int("BENCH_GIT_COMMITS", 24),
        git_records=_positive_int("BENCH_GIT_RECORDS", 500),
        nats_records=_positive_int("BENCH_NATS_RECORDS", 30_000),
        accounts=_positive_int("BENCH_USAGE_ACCOUNTS", 200),
        scale_out=_positive_int("BENCH_WORKER_PROCESSES", 1),
        catchup_nodes=full_nodes if catchup == "full" else _positive_int("BENCH_CATCHUP_NODES", 10),
        catchup_commits=commits,
        catchup_records=records,
        parts=_usage_parts(),
    )


def _usage_parts() -> tuple[str, ...]:
    raw = os.environ.get("BENCH_USAGE_PARTS", "")
    chosen = [p.strip() for p in raw.split(",") if p.strip()] or list(usage.PARTS)
    unknown = [p for p in chosen if p not in usage.PARTS]
    if unknown:
        raise SystemExit(
            f"bench: BENCH_USAGE_PARTS: unknown {', '.join(unknown)}; "
            f"choose from {', '.join(usage.PARTS)}"
        )
    if "agent" in chosen and "nats" not in chosen:
        raise SystemExit("bench: BENCH_USAGE_PARTS: agent is set against the nats run: add nats")
    return tuple(p for p in usage.PARTS if p in chosen)


def _sections() -> list[str]:
    raw = os.environ.get("BENCH_SECTIONS", "")
    chosen = [s.strip() for s in raw.split(",") if s.strip()] or list(RUNNABLE)
    unknown = [s for s in chosen if s not in RUNNABLE]
    if unknown:
        raise SystemExit(
            f"bench: BENCH_SECTIONS: unknown {', '.join(unknown)}; "
            f"choose from {', '.join(RUNNABLE)}"
        )
    return [s for s in RUNNABLE if s in chosen]


def main(argv: list[str] | None = None) -> int:
    console = Console(width=None if sys.stdout.isatty() else 150)
    webhook_count = _positive_int("BENCH_WEBHOOKS", 3000)
    message_count = _positive_int("BENCH_MESSAGES", 5000)
    usage_params = _usage_params()
    credit_changes = _positive_int("BENCH_CREDIT_CHANGES", 400)
    credit_accounts = _positive_int("BENCH_CREDIT_ACCOUNTS", 200)
    latency_rate = _positive_int("BENCH_LATENCY_RATE", 500)
    latency_seconds = _positive_int("BENCH_LATENCY_SECONDS", 20)
    chosen = _sections()
    params: dict[str, object] = {
        "sections": ",".join(chosen),
        "webhooks": webhook_count,
        "messages": message_count,
        "http_threads": webhooks.THREADS,
        "worker_threads": payments.WORKER_THREADS,
        "sql_threads": payments.SQL_THREADS,
        "limit_scale": LIMIT_SCALE,
    }
    if "usage" in chosen:
        params.update(
            {f"usage_{k}": v for k, v in usage_params.as_dict().items()},
            usage_worker_threads=usage_run.WORKER_THREADS,
        )
    if "credit" in chosen:
        params.update(
            credit_changes=credit_changes,
            credit_accounts=credit_accounts,
            credit_load_per_s=credit_latency.LOAD_PER_S,
        )
    if "latency" in chosen:
        params.update(latency_rate=latency_rate, latency_seconds=latency_seconds)
    if not (pg_reachable() and amqp_reachable()):
        console.print(
            "[red]bench needs PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672[/red]"
        )
        return EXIT_NO_SERVICES
    if {"usage", "credit", "latency"} & set(chosen) and not nats_reachable():
        console.print(
            "[red]the usage, credit and latency sections need NATS JetStream on "
            "127.0.0.1:4222 (or leave them out: BENCH_SECTIONS=webhooks,payments)[/red]"
        )
        return EXIT_NO_SERVICES
    signal.signal(signal.SIGTERM, _terminate)
    log_dir = REPO / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    runs: dict[str, Callable[[Path], tuple[list[Figure], list[Check]]]] = {
        "webhooks": lambda d: webhooks.run(webhook_count, d),
        "payments": lambda d: payments.run(message_count, d),
        "usage": lambda d: usage.run(usage_params, d),
        "credit": lambda d: credit_latency.run(credit_changes, credit_accounts, d),
        "latency": lambda d: usage_latency.run(
            latency_rate, latency_seconds, usage_params.accounts, d
        ),
    }
    began = time.perf_counter()
    figures: list[Figure] = []
    checks: list[Check] = []
    for title in chosen:
        console.print(f"[dim]bench: {title}...[/dim]")
        section_began = time.perf_counter()
        try:
            found, checked = runs[title](log_dir)
        except KeyboardInterrupt:  # the section has already removed what it made
            console.print(
                "[red]bench: interrupted; its processes, vhosts, databases, "
                "streams and repos are gone[/red]"
            )
            return EXIT_INTERRUPTED
        except Exception as exc:  # the other sections still run; the run is marked failed
            traceback.print_exc()
            checks.append(Check(f"{title} section ran to completion", False, repr(exc)[:300]))
            continue
        params[f"{title}_seconds"] = round(time.perf_counter() - section_began, 1)
        figures += found
        checks += checked
    figures.sort(key=lambda f: SECTIONS.index(f.section))
    seconds = time.perf_counter() - began
    render(figures, checks, {**params, "seconds": round(seconds, 1)}, console)
    write_json(REPO / JSON_PATH, figures, checks, params, seconds=seconds)
    console.print(f"[dim]written to {JSON_PATH}; process logs in {LOG_DIR}/[/dim]")
    return EXIT_OK if checks and all(c.ok for c in checks) else EXIT_FAILED
