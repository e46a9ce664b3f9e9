"""Physical limits measured with the raw clients: confirmed pika publishes, psycopg2 commits.

Both run in threads of the bench process, each thread with its own connection, released
together by a barrier; the rate is the work done over the time until the last thread
finished.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pika
import psycopg2

#: Each limit does this many times the product's work, so that its (faster) run still
#: lasts a second or more and its rate is not dominated by start-up and scheduling noise.
LIMIT_SCALE = 3
#: The scratch queue of the raw publish limit (deleted afterwards).
RAW_QUEUE = "bench_raw_publish"


@dataclass(frozen=True)
class Rate:
    """*count* operations in *seconds* by *threads* threads."""

    count: int
    seconds: float
    threads: int

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def shares(count: int, threads: int) -> list[int]:
    """Split *count* operations over *threads* as evenly as possible.

    >>> shares(10, 4)
    [3, 3, 2, 2]
    """
    base, extra = divmod(count, threads)
    return [base + (i < extra) for i in range(threads)]


def slices(count: int, threads: int) -> list[tuple[int, int]]:
    """``(first, n)`` of each thread's share of *count* operations.

    >>> slices(10, 4)
    [(0, 3), (3, 3), (6, 2), (8, 2)]
    """
    sizes = shares(count, threads)
    return [(sum(sizes[:i]), n) for i, n in enumerate(sizes)]


def run_threads(bodies: list[Callable[[threading.Barrier], None]]) -> float:
    """Run each of *bodies* in a thread; each calls ``barrier.wait()`` once it is ready.

    Returns:
        Seconds from the barrier's release to the last thread's end.

    Raises:
        RuntimeError: a thread failed (its first error is the cause).
    """
    barrier = threading.Barrier(len(bodies) + 1)
    errors: list[BaseException] = []

    def guarded(body: Callable[[threading.Barrier], None]) -> None:
        try:
            body(barrier)
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=guarded, args=(b,), daemon=True) for b in bodies]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a thread failed: see below
        barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(bodies)} threads failed") from errors[0]
    return seconds


def confirmed_publishes(amqp_url: str, *, count: int, body_bytes: int, threads: int) -> Rate:
    """Publish *count* persistent messages of *body_bytes* to a durable queue, each confirmed
    before the next (pika ``BlockingConnection`` + ``confirm_delivery``), in *threads*."""
    params = pika.URLParameters(amqp_url)
    body = b"x" * body_bytes
    admin = pika.BlockingConnection(params)
    try:
        admin.channel().queue_declare(RAW_QUEUE, durable=True)

        def publisher(n: int) -> Callable[[threading.Barrier], None]:
            def body_fn(barrier: threading.Barrier) -> None:
                conn = pika.BlockingConnection(params)
                try:
                    channel = conn.channel()
                    channel.confirm_delivery()
                    props = pika.BasicProperties(delivery_mode=2)
                    barrier.wait()
                    for _ in range(n):
                        channel.basic_publish("", RAW_QUEUE, body, props, mandatory=True)
                finally:
                    conn.close()

            return body_fn

        seconds = run_threads([publisher(n) for n in shares(count, threads)])
        admin.channel().queue_delete(RAW_QUEUE)
    finally:
        admin.close()
    return Rate(count=count, seconds=seconds, threads=threads)


SCRATCH_SCHEMA = """
CREATE TABLE bench_payment (key text PRIMARY KEY, account_id int NOT NULL,
                            amount_cents bigint NOT NULL);
CREATE TABLE bench_balance (id int PRIMARY KEY, balance_cents bigint NOT NULL DEFAULT 0);
"""


def sql_payments(database_url: str, *, count: int, accounts: int, threads: int) -> Rate:
    """*count* payments, one psycopg2 transaction each: ``INSERT ... ON CONFLICT DO
    NOTHING`` of the payment key into a scratch table, then (when inserted) ``UPDATE`` of
    the account's balance row, in *threads* connections."""
    with psycopg2.connect(database_url) as setup, setup.cursor() as cur:
        cur.execute(SCRATCH_SCHEMA)
        cur.execute("INSERT INTO bench_balance (id) SELECT generate_series(0, %s)", (accounts - 1,))
    setup.close()

    def payer(first: int, n: int) -> Callable[[threading.Barrier], None]:
        def body_fn(barrier: threading.Barrier) -> None:
            conn = psycopg2.connect(database_url)
            try:
                cur = conn.cursor()
                barrier.wait()
                for i in range(first, first + n):
                    account, amount = i % accounts, 100 + i % 4900
                    cur.execute(
                        "INSERT INTO bench_payment (key, account_id, amount_cents) "
                        "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (f"pi_bench_{i}", account, amount),
                    )
                    if cur.rowcount:
                        cur.execute(
                            "UPDATE bench_balance SET balance_cents = balance_cents + %s "
                            "WHERE id = %s",
                            (amount, account),
                        )
                    conn.commit()
            finally:
                conn.close()

        return body_fn

    seconds = run_threads([payer(first, n) for first, n in slices(count, threads)])
    return Rate(count=count, seconds=seconds, threads=threads)


#: Columns of ``usage_record`` the raw batched insert writes, in this order.
USAGE_COLUMNS = (
    "key",
    "node",
    "address",
    "account_id",
    "resource_kind",
    "applies_to",
    "quantity",
    "amount_cents",
    "occurred_at",
    "multiplier_quarters",
    "charge_quarters",
    "status",
    "via",
    "received_at",
)


#: The slim table of limits-measured.md's probe: the key, the account and the cents.
SLIM_COLUMNS = ("key", "account_id", "amount_cents")


def sql_usage_batches(
    database_url: str, rows: list[tuple[object, ...]], *, batch: int = 1000, slim: bool = False
) -> Rate:
    """*rows* (``USAGE_COLUMNS``) applied as raw batched SQL, one psycopg2 connection:
    per batch of *batch*, one ``execute_values`` ``INSERT ... ON CONFLICT (key) DO NOTHING
    RETURNING key``, then one ``UPDATE ... FROM (VALUES ...)`` of the accounts' balance
    rows by the inserted records' cents, and a commit (limits-measured.md: 79k/s).

    The records go into a copy of ``usage_record`` (same columns, indexes and
    constraints: the row the product must write), or with *slim* into a table of
    ``SLIM_COLUMNS`` only (the probe's shape).
    """
    from psycopg2.extras import execute_values

    columns = SLIM_COLUMNS if slim else USAGE_COLUMNS
    picks = [USAGE_COLUMNS.index(c) for c in columns]
    values = [tuple(r[i] for i in picks) for r in rows]
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE bench_usage (key text PRIMARY KEY, account_id int NOT NULL,"
                " amount_cents bigint NOT NULL)"
                if slim
                else "CREATE TABLE bench_usage (LIKE usage_record INCLUDING ALL)"
            )
            cur.execute(
                "CREATE TABLE bench_usage_balance (id int PRIMARY KEY,"
                " balance_cents bigint NOT NULL DEFAULT 0)"
            )
            accounts = sorted({int(str(r[3])) for r in rows})
            execute_values(
                cur, "INSERT INTO bench_usage_balance (id) VALUES %s", [(a,) for a in accounts]
            )
        conn.commit()
        insert = (
            f"INSERT INTO bench_usage ({', '.join(columns)}) VALUES %s "
            "ON CONFLICT (key) DO NOTHING RETURNING key"
        )
        update = (
            "UPDATE bench_usage_balance b SET balance_cents = b.balance_cents - v.cents "
            "FROM (VALUES %s) AS v(id, cents) WHERE b.id = v.id"
        )
        cents = {str(r[0]): (int(str(r[3])), int(str(r[7]))) for r in rows}
        began = time.perf_counter()
        with conn.cursor() as cur:
            for first in range(0, len(values), batch):
                inserted = execute_values(
                    cur, insert, values[first : first + batch], page_size=batch, fetch=True
                )
                by_account: dict[int, int] = {}
                for (key,) in inserted:
                    account, amount = cents[key]
                    by_account[account] = by_account.get(account, 0) + amount
                execute_values(cur, update, sorted(by_account.items()), page_size=batch)
                conn.commit()
        seconds = time.perf_counter() - began
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM bench_usage),"
                " (SELECT -sum(balance_cents) FROM bench_usage_balance)"
            )
            stored, charged = cur.fetchone()
            cur.execute("DROP TABLE bench_usage, bench_usage_balance")
        conn.commit()
    finally:
        conn.close()
    if stored != len(rows) or charged != sum(int(str(r[7])) for r in rows):
        raise RuntimeError(
            f"raw batched SQL stored {stored} of {len(rows)} rows, charged {charged} cents"
        )
    return Rate(count=len(rows), seconds=seconds, threads=1)


def toml_parse(files: list[bytes], *, records: int, repeat: int = 1) -> Rate:
    """Parse every batch file with ``tomli`` (the aggregator's parser), *repeat* times."""
    import tomli

    began = time.perf_counter()
    for _ in range(repeat):
        for data in files:
            tomli.loads(data.decode("utf-8"))
    return Rate(count=records * repeat, seconds=time.perf_counter() - began, threads=1)
