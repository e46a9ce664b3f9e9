"""Figure 2: apply_payment messages/s through a real worker, beside its two limits.

M ``apply_payment`` messages (built from signed-event payloads, exactly as the gateway
builds them) are enqueued into a fresh vhost with no worker running; then a
``hero-onboarding worker`` (``WORKER_THREADS`` threads) is started and the database is
polled until every payment is applied. The limits (each doing ``LIMIT_SCALE`` times the
work): payments as raw psycopg2 transactions (insert-on-conflict + balance update) in
``SQL_THREADS`` threads on the same PostgreSQL, and a dramatiq no-op actor in its own
process with as many worker threads as the product worker.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from adapters.payments.stripe_provider import event_facts
from bench.limits import LIMIT_SCALE, Rate, run_threads, slices, sql_payments
from bench.report import Check, Figure
from bench.scratch import create_accounts, mycelium_addresses, scratch_database, scratch_vhost
from bench.watch import CpuWindow, PeakRss
from messages import ApplyPayment
from messages.facts import message_for
from tests.support.procs import HeroProcess, hero_env, result_of, run_module, spawn, stop
from tests.support.stripe_events import checkout_completed

#: Worker threads of the product worker and of the no-op worker.
WORKER_THREADS = 8
#: Threads of the raw SQL limit.
SQL_THREADS = 4
#: Threads that enqueue the messages before the worker starts.
SEND_THREADS = 4
#: Accounts the payments are spread over.
ACCOUNTS = 200
#: How often the database is polled for applied payments, in seconds.
POLL_S = 0.05


@dataclass(frozen=True)
class Applied:
    """How the worker drained the queue, as seen by polling the database."""

    count: int  # applied between the two polls below
    seconds: float  # from the first poll that saw a payment to the one that saw them all
    launch_to_done_s: float  # from starting the worker process, start-up included
    total: int  # every payment of the run

    @property
    def per_s(self) -> float:
        if self.count and self.seconds:
            return self.count / self.seconds
        return self.total / self.launch_to_done_s  # too few to see the queue drain


@dataclass(frozen=True)
class WorkerRun:
    """What the worker part of the section measured."""

    applied: Applied
    sent: Rate
    sql: Rate
    rss_mib: float
    cpu: dict[str, float]


def build_messages(addresses: list[str], count: int) -> list[dict[str, Any]]:
    """*count* distinct apply_payment kwargs, as the gateway derives them from webhooks."""
    rng = random.Random(13)
    return [
        message_for(
            event_facts(
                checkout_completed(
                    address=rng.choice(addresses), amount_cents=rng.randint(100, 50_000)
                )
            )[0]
        ).kwargs
        for _ in range(count)
    ]


def enqueue(amqp_url: str, messages: list[dict[str, Any]]) -> Rate:
    """Send *messages* with the product's own ``actors.send`` (confirmed), in threads."""
    import actors

    broker = actors.build_broker(amqp_url)
    assert isinstance(broker, RabbitmqBroker)

    def sender(first: int, n: int) -> Any:
        def body(barrier: threading.Barrier) -> None:
            broker.channel  # noqa: B018 - open this thread's connection before the clock
            barrier.wait()
            for kwargs in messages[first : first + n]:
                actors.send(ApplyPayment(**kwargs))

        return body

    try:
        seconds = run_threads(
            [sender(first, n) for first, n in slices(len(messages), SEND_THREADS)]
        )
    finally:
        broker.close()
        actors.build_broker(None)
    return Rate(count=len(messages), seconds=seconds, threads=SEND_THREADS)


def wait_applied(
    database_url: str,
    worker: HeroProcess,
    count: int,
    *,
    launched: float,
    timeout_s: float,
    cpu: CpuWindow,
) -> Applied:
    """Poll ``payment_event`` until it holds *count* rows; *cpu* watches the same window.

    Raises:
        RuntimeError: the worker exited. TimeoutError: not all were applied in time.
    """
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    first: tuple[float, int] | None = None
    try:
        with conn.cursor() as cur:
            deadline = launched + timeout_s
            while time.perf_counter() < deadline:
                cur.execute("SELECT count(*) FROM payment_event")
                seen, now = cur.fetchone()[0], time.perf_counter()
                if seen and first is None:
                    first = (now, seen)
                    cpu.start()
                if seen >= count and first is not None:
                    cpu.stop()
                    return Applied(
                        count=count - first[1],
                        seconds=now - first[0],
                        launch_to_done_s=now - launched,
                        total=count,
                    )
                if worker.proc is not None and worker.proc.poll() is not None:
                    raise RuntimeError(
                        f"worker exited {worker.proc.returncode}:\n{worker.log_text[-3000:]}"
                    )
                time.sleep(POLL_S)
    finally:
        conn.close()
    raise TimeoutError(f"{count} payments not applied within {timeout_s:.0f} s")


def books(database_url: str) -> dict[str, int]:
    """Row counts and money totals of the payments database."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM payment_event),"
                " (SELECT count(*) FROM ledger_entry),"
                " (SELECT coalesce(sum(amount_cents), 0) FROM payment_event),"
                " (SELECT coalesce(sum(balance_cents), 0) FROM billing),"
                " (SELECT coalesce(sum(amount_cents), 0) FROM ledger_entry)"
            )
            events, entries, paid, balances, ledger = (int(v) for v in cur.fetchone())
    finally:
        conn.close()
    return {
        "payment_events": events,
        "ledger_entries": entries,
        "paid_cents": paid,
        "balances_cents": balances,
        "ledger_cents": ledger,
    }


def measure_worker(count: int, log_dir: Path) -> tuple[WorkerRun, list[Check]]:
    """Enqueue, drain with a real worker, then run the raw SQL limit on the same server."""
    with ExitStack() as stack:
        amqp_url = stack.enter_context(scratch_vhost("pay"))
        database_url = stack.enter_context(scratch_database("pay"))
        addresses = mycelium_addresses(ACCOUNTS)
        create_accounts(addresses)
        messages = build_messages(addresses, count)
        sent = enqueue(amqp_url, messages)
        env = hero_env(
            HERO_DATABASE_URL=database_url,
            HERO_AMQP_URL=amqp_url,
            HERO_WORKER_THREADS=str(WORKER_THREADS),
            HERO_LOG_JSON="true",
            HERO_SANDBOX_PAYMENTS="false",
        )
        launched = time.perf_counter()
        worker = HeroProcess("worker", env, log_dir).start()
        stack.callback(worker.stop)
        assert worker.proc is not None
        cpu = CpuWindow(worker.proc.pid)
        with PeakRss(worker.proc.pid) as rss:
            applied = wait_applied(
                database_url,
                worker,
                count,
                launched=launched,
                timeout_s=max(120.0, count / 50),
                cpu=cpu,
            )
            time.sleep(0.3)  # the last messages' log lines
        worker.stop()
        totals = books(database_url)
        failed = worker.count_lines("message.processed", '"outcome": "failed"')
        sql = sql_payments(
            database_url, count=count * LIMIT_SCALE, accounts=ACCOUNTS, threads=SQL_THREADS
        )
    expected_cents = sum(int(m["amount_cents"]) for m in messages)
    checks = [
        Check(
            "every payment applied once",
            totals["payment_events"] == count and totals["ledger_entries"] == count,
            f"{totals['payment_events']} payment events, {totals['ledger_entries']} ledger "
            f"entries for {count} messages",
        ),
        Check(
            "balances == ledger == payments sent",
            totals["balances_cents"] == totals["ledger_cents"] == expected_cents,
            f"{totals['balances_cents']} / {totals['ledger_cents']} / {expected_cents} cents",
        ),
        Check("no failed apply_payment messages", failed == 0, f"{failed} failed"),
    ]
    return WorkerRun(
        applied=applied, sent=sent, sql=sql, rss_mib=rss.peak_mib, cpu=cpu.as_dict()
    ), checks


def measure_noop(count: int, log_dir: Path) -> tuple[dict[str, Any], float]:
    """The dramatiq no-op actor's rate (own vhost, own process) and its peak RSS in MiB."""
    log_path = log_dir / "noop_worker.log"
    with ExitStack() as stack:
        amqp_url = stack.enter_context(scratch_vhost("noop"))
        run_module("bench.noop_worker", "send", amqp_url, count, log_path=log_path, timeout_s=120)
        proc = spawn(
            "bench.noop_worker",
            "work",
            amqp_url,
            count,
            "--threads",
            WORKER_THREADS,
            log_path=log_path,
            stdout=subprocess.PIPE,
        )
        stack.callback(stop, proc)
        with PeakRss(proc.pid) as rss:
            result = result_of(proc, timeout_s=120)
    return result, rss.peak_mib


def run(count: int, log_dir: Path) -> tuple[list[Figure], list[Check]]:
    """Measure figure 2 and the worker's memory; the figures and the run's checks."""
    worker, checks = measure_worker(count, log_dir)
    noop, noop_rss_mib = measure_noop(count * LIMIT_SCALE, log_dir)
    applied, sql = worker.applied, worker.sql
    name = "apply_payment/s (worker)"
    details = {
        "applied_timed": applied.count,
        "window_s": applied.seconds,
        "launch_to_done_s": applied.launch_to_done_s,
        "enqueue_per_s": worker.sent.per_s,
        "enqueue_threads": worker.sent.threads,
        "worker_cpu": worker.cpu,
    }
    figures = [
        Figure(
            "payments",
            name,
            applied.per_s,
            "msg/s",
            f"raw SQL, 1 tx/payment, {SQL_THREADS} thr",
            sql.per_s,
            "2.5k, 1 thr",
            {**details, "sql_payments": sql.count, "sql_seconds": sql.seconds},
            cpu=worker.cpu,
        ),
        Figure(
            "payments",
            name,
            applied.per_s,
            "msg/s",
            "dramatiq no-op actor",
            noop["rate_per_s"],
            "2.6k",
            {"noop": noop},
            cpu=worker.cpu,
        ),
        Figure(
            "memory",
            "worker peak RSS",
            worker.rss_mib,
            "MiB",
            "dramatiq no-op worker",
            noop_rss_mib,
        ),
    ]
    checks.append(
        Check(
            "no-op worker processed every message",
            noop["processed"] >= count * LIMIT_SCALE,
            f"{noop['processed']} of {count * LIMIT_SCALE}",
        )
    )
    return figures, checks
