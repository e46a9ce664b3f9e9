"""``python -m bench``: run every section, print the table, write ``var/bench.json``.

Environment: ``BENCH_WEBHOOKS`` (default 3000) signed webhooks, ``BENCH_MESSAGES``
(default 5000) apply_payment messages. Needs PostgreSQL on 127.0.0.1:5432 (trust auth,
user postgres), RabbitMQ on 127.0.0.1:5672 (guest) and ``rabbitmqctl``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from rich.console import Console

from bench import payments, webhooks
from bench.limits import LIMIT_SCALE
from bench.procs import REPO
from bench.report import Check, Figure, render, write_json
from tests.support.services import amqp_reachable, pg_reachable

#: Where the figures are written, relative to the repository.
JSON_PATH = Path("var") / "bench.json"
#: Where the processes' logs are kept (overwritten by the next run).
LOG_DIR = Path("var") / "bench-logs"
#: Sections in the order they appear in the table.
SECTIONS = ("webhooks", "payments", "memory")
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


def main(argv: list[str] | None = None) -> int:
    console = Console(width=None if sys.stdout.isatty() else 150)
    webhook_count = _positive_int("BENCH_WEBHOOKS", 3000)
    message_count = _positive_int("BENCH_MESSAGES", 5000)
    params = {"webhooks": webhook_count, "messages": message_count,
              "http_threads": webhooks.THREADS, "worker_threads": payments.WORKER_THREADS,
              "sql_threads": payments.SQL_THREADS, "limit_scale": LIMIT_SCALE}
    if not (pg_reachable() and amqp_reachable()):
        console.print("[red]bench needs PostgreSQL on 127.0.0.1:5432 and RabbitMQ on "
                      "127.0.0.1:5672[/red]")
        return EXIT_NO_SERVICES
    signal.signal(signal.SIGTERM, _terminate)
    log_dir = REPO / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    began = time.perf_counter()
    figures: list[Figure] = []
    checks: list[Check] = []
    for title, section in (("webhooks", webhooks.run), ("apply_payment", payments.run)):
        console.print(f"[dim]bench: {title}...[/dim]")
        try:
            found, checked = section(webhook_count if title == "webhooks" else message_count,
                                     log_dir)
        except KeyboardInterrupt:  # the section has already removed what it made
            console.print("[red]bench: interrupted; its processes, vhosts and databases "
                          "are gone[/red]")
            return EXIT_INTERRUPTED
        except Exception as exc:  # the other section still runs; the run is marked failed
            traceback.print_exc()
            checks.append(Check(f"{title} section ran to completion", False, repr(exc)[:300]))
            continue
        figures += found
        checks += checked
    figures.sort(key=lambda f: SECTIONS.index(f.section))
    seconds = time.perf_counter() - began
    render(figures, checks, {**params, "seconds": round(seconds, 1)}, console)
    write_json(REPO / JSON_PATH, figures, checks, params, seconds=seconds)
    console.print(f"[dim]written to {JSON_PATH}; process logs in {LOG_DIR}/[/dim]")
    return EXIT_OK if checks and all(c.ok for c in checks) else EXIT_FAILED
