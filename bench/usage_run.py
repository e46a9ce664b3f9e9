"""What every usage run shares: its scratch database and vhost with accounts, a real
worker, polling the database until every record is charged, the books, the checks, and
the raw batched SQL limit on the same server."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from bench.limits import LIMIT_SCALE, Rate, sql_usage_batches
from bench.report import Check
from bench.scratch import create_accounts, mycelium_addresses, scratch_database, scratch_vhost
from bench.watch import GONE, MIB, CpuWindow, PeakRss
from tests.support.procs import HeroProcess, hero_env
from wire.otoml import UsageIn

#: Worker threads of the product worker in the usage runs.
WORKER_THREADS = 4
#: How often the database is polled for charged records, in seconds.
POLL_S = 0.1
#: At most this many records go through the raw batched SQL limit (it is a rate).
LIMIT_RECORDS_CAP = 200_000
#: Records per transaction of the raw batched SQL limit (the aggregator's message size).
LIMIT_BATCH = 1000


@dataclass(frozen=True)
class Stage:
    """A scratch database (schema, never-paid accounts) and vhost for one run."""

    database_url: str
    amqp_url: str
    users: list[str]
    log_dir: Path
    tag: str

    def env(self, **extra: str) -> dict[str, str]:
        return hero_env(
            HERO_DATABASE_URL=self.database_url,
            HERO_AMQP_URL=self.amqp_url,
            HERO_WORKER_THREADS=str(WORKER_THREADS),
            HERO_LOG_JSON="true",
            HERO_SANDBOX_PAYMENTS="false",
            **extra,
        )


@contextmanager
def stage(tag: str, accounts: int, log_dir: Path) -> Iterator[Stage]:
    """A fresh vhost and database with *accounts* accounts that never paid (multiplier x1
    in every category), bound in this process too; all removed afterwards."""
    with ExitStack() as stack:
        amqp_url = stack.enter_context(scratch_vhost(tag))
        database_url = stack.enter_context(scratch_database(tag))
        users = mycelium_addresses(accounts, seed=17)
        create_accounts(users)
        yield Stage(database_url, amqp_url, users, log_dir, tag)


def start_worker(st: Stage, stack: ExitStack, name: str, *, processes: int = 1) -> HeroProcess:
    """A real ``hero-onboarding worker`` on the stage (with *processes* worker processes,
    ``HERO_WORKER_PROCESSES``), every process ready to consume."""
    env = st.env(HERO_WORKER_PROCESSES=str(processes))
    worker = HeroProcess("worker", env, st.log_dir, name=name).start()
    stack.callback(worker.stop)
    worker.wait_for_log("worker.started", count=processes, timeout=60)
    return worker


def idle_rss_mib(pid: int) -> float:
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / MIB
    except GONE:
        return 0.0


@dataclass(frozen=True)
class Drain:
    """How the records got charged, as seen by polling ``usage_record``."""

    total: int
    launched: float  # perf_counter when the measured thing was started
    done: float  # the first poll that saw every record
    first: tuple[float, int]  # the first poll that saw a record, and how many
    #: Averages over the polls: this database's backends running a statement, and those
    #: of them waiting for a lock (the worker threads queueing on the same billing rows).
    active_avg: float = 0.0
    lock_wait_avg: float = 0.0

    @property
    def seconds(self) -> float:
        return self.done - self.launched

    @property
    def per_s(self) -> float:
        """Records over start -> last charged (start-up included)."""
        return self.total / self.seconds if self.seconds else 0.0

    @property
    def drain_per_s(self) -> float:
        """Records over the first poll that saw one -> the last charged."""
        span = self.done - self.first[0]
        return (self.total - self.first[1]) / span if span > 0 else self.per_s

    def as_dict(self) -> dict[str, float]:
        return {
            "records": self.total,
            "seconds": round(self.seconds, 3),
            "first_charged_after_s": round(self.first[0] - self.launched, 3),
            "drain_per_s": round(self.drain_per_s, 1),
            "db_active_avg": round(self.active_avg, 2),
            "db_lock_wait_avg": round(self.lock_wait_avg, 2),
        }


def wait_charged(
    database_url: str,
    total: int,
    *,
    launched: float,
    timeout_s: float,
    alive: list[HeroProcess],
    tick: Callable[[float], None] | None = None,
) -> Drain:
    """Poll ``usage_record`` until it holds *total* rows.

    Args:
        alive: processes that must keep running meanwhile (a dead one raises).
        tick: called after every poll with its time (watches a process that may end).

    Raises:
        RuntimeError: a process of *alive* exited. TimeoutError: not all in time.
    """
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    first: tuple[float, int] | None = None
    polls = active = waiting = 0
    try:
        with conn.cursor() as cur:
            while time.perf_counter() < launched + timeout_s:
                cur.execute("SELECT count(*) FROM usage_record")
                seen, now = int(cur.fetchone()[0]), time.perf_counter()
                cur.execute(
                    "SELECT count(*) FILTER (WHERE state = 'active'),"
                    " count(*) FILTER (WHERE wait_event_type = 'Lock')"
                    " FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                busy, locked = cur.fetchone()
                if first is not None:
                    polls, active, waiting = polls + 1, active + int(busy), waiting + int(locked)
                if seen and first is None:
                    first = (now, seen)
                if tick is not None:
                    tick(now)
                if seen >= total and first is not None:
                    return Drain(
                        total=total,
                        launched=launched,
                        done=now,
                        first=first,
                        active_avg=active / max(polls, 1),
                        lock_wait_avg=waiting / max(polls, 1),
                    )
                for proc in alive:
                    if proc.proc is not None and proc.proc.poll() is not None:
                        raise RuntimeError(
                            f"{proc.log_path.name} exited "
                            f"{proc.proc.returncode}:\n{proc.log_text[-3000:]}"
                        )
                time.sleep(POLL_S)
    finally:
        conn.close()
    raise TimeoutError(
        f"{total} usage records not charged within {timeout_s:.0f} s "
        f"({first[1] if first else 0} seen at first)"
    )


def books(database_url: str) -> dict[str, int]:
    """Counts and money totals of the usage database."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM usage_record),"
                " (SELECT count(DISTINCT key) FROM usage_record),"
                " (SELECT count(*) FROM usage_record WHERE status <> 'applied'),"
                " (SELECT coalesce(sum(amount_cents), 0) FROM usage_record),"
                " (SELECT coalesce(sum(charge_quarters), 0) FROM usage_record),"
                " (SELECT count(*) FROM usage_record WHERE multiplier_quarters <> 4),"
                " (SELECT count(*) FROM ledger_entry WHERE kind = 'usage'),"
                " (SELECT coalesce(sum(amount_cents), 0) FROM ledger_entry WHERE kind = 'usage'),"
                " (SELECT coalesce(sum(amount_cents), 0) FROM ledger_entry),"
                " (SELECT coalesce(sum(balance_cents), 0) FROM billing),"
                " (SELECT coalesce(sum(usage_carry), 0) FROM billing),"
                " (SELECT count(*) FROM alert),"
                " (SELECT count(*) FROM unmatched_item)"
            )
            names = (
                "records",
                "distinct_keys",
                "not_applied",
                "amount_cents",
                "charge_quarters",
                "not_x1",
                "usage_entries",
                "usage_ledger_cents",
                "ledger_cents",
                "balances_cents",
                "carry_quarters",
                "alerts",
                "unmatched",
            )
            return dict(zip(names, (int(v) for v in cur.fetchone()), strict=True))
    finally:
        conn.close()


def checks_for(
    label: str, totals: dict[str, int], *, sent: int, expected_cents: int, worker: HeroProcess
) -> list[Check]:
    """The correctness of one run: each record charged once, at x1, books balanced."""
    failed = worker.count_lines("message.processed", '"outcome": "failed"')
    return [
        Check(
            f"{label}: every record charged once",
            totals["records"] == totals["distinct_keys"] == sent
            and totals["not_applied"] == 0
            and totals["unmatched"] == 0,
            f"{totals['records']} usage records ({totals['distinct_keys']} keys, "
            f"{totals['not_applied']} not applied, {totals['unmatched']} unmatched) "
            f"for {sent} sent",
        ),
        Check(
            f"{label}: usage ledger == -(amounts sent) at x1, balances == ledger",
            totals["usage_ledger_cents"] == -expected_cents == -totals["amount_cents"]
            and totals["charge_quarters"] == 4 * expected_cents
            and totals["not_x1"] == 0
            and totals["carry_quarters"] == 0
            and totals["balances_cents"] == totals["ledger_cents"],
            f"usage ledger {totals['usage_ledger_cents']} / expected {-expected_cents} "
            f"cents in {totals['usage_entries']} entries; balances "
            f"{totals['balances_cents']} / ledger {totals['ledger_cents']}",
        ),
        Check(
            f"{label}: no failed messages, no alerts",
            failed == 0 and totals["alerts"] == 0,
            f"{failed} failed messages, {totals['alerts']} alerts",
        ),
    ]


def account_ids(database_url: str) -> dict[str, int]:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT address, id FROM account")
            return {str(a): int(i) for a, i in cur.fetchall()}
    finally:
        conn.close()


def raw_sql_limit(st: Stage, records: list[UsageIn], *, via: str, slim: bool = False) -> Rate:
    """The raw batched SQL limit on the stage's database: ``LIMIT_SCALE`` times the
    run's records (re-keyed; at most ``LIMIT_RECORDS_CAP``) in batches of 1000, into a
    copy of ``usage_record`` (or, *slim*, a key/account/cents table)."""
    ids = account_ids(st.database_url)
    count = min(len(records) * LIMIT_SCALE, LIMIT_RECORDS_CAP)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows: list[tuple[object, ...]] = []
    for i in range(count):
        r = records[i % len(records)]
        rows.append(
            (
                f"{r.key}~{i // len(records)}",
                r.node,
                r.user,
                ids[r.user],
                r.resource_kind,
                r.applies_to,
                r.quantity,
                r.amount_cents,
                r.occurred_at.replace(tzinfo=None),
                4,
                4 * r.amount_cents,
                "applied",
                via,
                now,
            )
        )
    return sql_usage_batches(st.database_url, rows, batch=LIMIT_BATCH, slim=slim)


class Watched:
    """Peak RSS and CPU of one process over a window (start/stop both at once)."""

    def __init__(self, pid: int) -> None:
        self.rss = PeakRss(pid)
        self.cpu = CpuWindow(pid)

    def start(self) -> Watched:
        self.rss.start()
        self.cpu.start()
        return self

    def stop(self) -> Watched:
        self.cpu.stop()
        self.rss.stop()
        return self
