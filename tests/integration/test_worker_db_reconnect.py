"""A worker thread whose PostgreSQL connection was dropped gets a fresh one: the message
that failed on the dead connection is retried and applied, and later ones succeed too."""

from __future__ import annotations

import threading

import dramatiq
import psycopg2
from dramatiq.brokers.stub import StubBroker

import actors
from models import db


def test_a_dropped_connection_costs_one_failed_attempt_not_the_message(pg_db: str) -> None:
    broker = StubBroker(middleware=actors._middleware())
    broker.emit_after("process_boot")
    pids: list[int] = []
    done: list[str] = []
    lock = threading.Lock()

    @dramatiq.actor(broker=broker, max_retries=3, min_backoff=10, max_backoff=50)
    def touch(name: str) -> None:
        (pid,) = db.execute_sql("SELECT pg_backend_pid()").fetchone()
        with lock:
            pids.append(pid)
            done.append(name)

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        touch.send("first")
        broker.join(touch.queue_name, timeout=10_000)
        # Given PostgreSQL drops the worker thread's connection between two messages
        with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pids[-1],))
        # When two more messages arrive
        touch.send("second")
        touch.send("third")
        broker.join(touch.queue_name, timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    # Then both are applied, on a new connection
    assert sorted(done) == ["first", "second", "third"]
    assert pids[1] != pids[0]
    assert not broker.dead_letters
