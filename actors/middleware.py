"""Cross-cutting behaviour of every message: one log line, Prometheus metrics, and a fresh
database connection for a worker thread whose connection broke."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import dramatiq
import peewee
import structlog
from dramatiq.broker import MessageProxy
from prometheus_client import Counter, Histogram

log = structlog.get_logger("hero.actors")

#: Messages processed, by actor and outcome (ok, failed, skipped).
MESSAGES = Counter("hero_messages_total", "Messages processed", ["actor", "outcome"])
#: Wall time of processing one message.
DURATION = Histogram("hero_message_seconds", "Time to process a message", ["actor"])


class LogMessage(dramatiq.Middleware):
    """Bind message context and write one structured line per processed message."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            message_id=message.message_id, actor_name=message.actor_name
        )
        message.options["_started"] = time.monotonic()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        elapsed_ms = (time.monotonic() - message.options.pop("_started", time.monotonic())) * 1e3
        fields = {"duration_ms": round(elapsed_ms, 2), "retries": message.options.get("retries", 0)}
        if exception is None:
            log.info("message.processed", outcome="ok", result=_short(result), **fields)
        else:
            log.warning(
                "message.processed", outcome="failed", error=repr(exception)[:500], **fields
            )

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        log.warning("message.processed", outcome="skipped")


class MessageMetrics(dramatiq.Middleware):
    """Count and time messages per actor."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        message.options["_metrics_started"] = time.monotonic()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = message.options.pop("_metrics_started", None)
        if started is not None:
            DURATION.labels(message.actor_name).observe(time.monotonic() - started)
        MESSAGES.labels(message.actor_name, "ok" if exception is None else "failed").inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        MESSAGES.labels(message.actor_name, "skipped").inc()


class DatabaseReconnect(dramatiq.Middleware):
    """Give back a worker thread's database connection when a message failed on it.

    Each worker thread keeps its pooled connection between messages. When PostgreSQL drops
    it (a restart, a network cut), every later message of that thread would fail with
    ``connection already closed`` until its retries ran out and it went to the dead-letter
    queue. Closing the connection after a failure that peewee reports as a connection or
    operational error hands the broken one back to the pool, which discards it; the
    retried message (and the next one) opens a fresh connection.
    """

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if not isinstance(exception, peewee.InterfaceError | peewee.OperationalError):
            return
        from models import db

        with contextlib.suppress(Exception):
            if not db.is_closed():
                db.close()


def _short(result: Any) -> Any:
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if isinstance(v, str | int | bool | None)}
    return result if isinstance(result, str | int | bool | None) else type(result).__name__
