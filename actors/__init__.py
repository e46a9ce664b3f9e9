"""Broker set-up: the one place that chooses RabbitMQ or the in-process broker.

Importing this package (or an actor module) touches no broker: ``@actor(...)`` only
records the declaration. The composition root calls ``build_broker(amqp_url)`` once,
before anything sends or consumes: it builds RabbitMQ (publisher confirms on) or the
in-process broker, imports every actor module and declares every actor on it.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import dramatiq
import structlog
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from actors.middleware import DatabaseReconnect, LogMessage, MessageMetrics
from messages import Message, deliver

P = ParamSpec("P")
R = TypeVar("R")

log = structlog.get_logger("hero.actors")

#: Actor modules, imported by ``build_broker`` so every actor is declared.
ACTOR_MODULES = (
    "actors.payments",
    "actors.topups",
    "actors.refunds",
    "actors.parked",
    "actors.clickpesa",
    "actors.clickpesa_reconcile",
    "actors.admin",
    "actors.usage",
    "actors.ladder",
    "actors.aggregator",
    "actors.plans",
    "actors.plan_changes",
    "actors.notify",
    "actors.accounts",
    "actors.email_verify",
    "actors.low_balance",
    "actors.kyc",
    "actors.kyc_checks",
    "actors.suspension",
)

#: Retry policy shared by money actors: backoff stays far under RabbitMQ's 30 min
#: consumer timeout, and a message that keeps failing lands in the dead-letter queue.
RETRY_POLICY: dict[str, Any] = {
    "max_retries": 12,
    "min_backoff": 1_000,
    "max_backoff": 300_000,
    "time_limit": 120_000,
}


def _middleware() -> list[dramatiq.Middleware]:
    return [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=RETRY_POLICY["max_retries"], max_backoff=RETRY_POLICY["max_backoff"]),
        LogMessage(),
        MessageMetrics(),
        DatabaseReconnect(),
    ]


def _in_process_broker() -> dramatiq.Broker:
    broker = StubBroker(middleware=_middleware())
    broker.emit_after("process_boot")
    return broker


class Declared(dramatiq.Actor[P, R]):
    """An actor as its module declares it: a name, a queue and options, on no broker.

    ``@actor(...)`` makes one; ``build_broker`` declares every one on the broker it
    builds. Calling it runs the function (a test calls ``apply_payment(...)``); ``send``
    goes through the broker built for this process.
    """

    def __init__(self, fn: Callable[P, R], *, queue_name: str, options: dict[str, Any]) -> None:
        self.logger = logging.getLogger(f"{fn.__module__}.{fn.__name__}")
        self.fn = fn
        self.actor_name = fn.__name__
        self.queue_name = queue_name
        self.priority = 0
        self.options = options
        functools.update_wrapper(self, fn)

    @property
    def broker(self) -> dramatiq.Broker:  # type: ignore[override]
        """The broker built for this process."""
        return current_broker()

    def send_with_options(self, **kwargs: Any) -> dramatiq.Message[R]:
        sent: dramatiq.Message[R] = (
            current_broker().get_actor(self.actor_name).send_with_options(**kwargs)
        )
        return sent


_declared: dict[str, Declared[Any, Any]] = {}


def actor(*, queue_name: str, **options: Any) -> Callable[[Callable[P, R]], Declared[P, R]]:
    """Declare the decorated function as an actor, bound to no broker until one is built.

    Raises:
        ValueError: another function already declared an actor of that name.
    """

    def declare(fn: Callable[P, R]) -> Declared[P, R]:
        declared = Declared(fn, queue_name=queue_name, options=options)
        existing = _declared.get(declared.actor_name)
        if existing is not None and existing.fn.__module__ != fn.__module__:
            raise ValueError(f"actor {declared.actor_name!r} is declared twice")
        _declared[declared.actor_name] = declared
        return declared

    return declare


#: The broker built for this process (``build_broker``); None until then.
broker: dramatiq.Broker | None = None


def current_broker() -> dramatiq.Broker:
    """The broker built for this process.

    Raises:
        RuntimeError: no broker was built (an entry point that skipped the root).
    """
    if broker is None:
        raise RuntimeError("no broker: call runtime.bootstrap (or actors.build_broker) first")
    return broker


def build_broker(amqp_url: str | None) -> dramatiq.Broker:
    """Build this process's broker, then import the actor modules and declare them on it.

    Called by the composition root before anything sends or consumes; a test that needs
    another broker builds a new one (every actor is declared on it afresh).

    Args:
        amqp_url: RabbitMQ URL (publisher confirms on), or None for the in-process broker.
    """
    global broker
    if amqp_url:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        new: dramatiq.Broker = RabbitmqBroker(
            url=_with_defaults(amqp_url), confirm_delivery=True, middleware=_middleware()
        )
    else:
        new = _in_process_broker()
    for module in ACTOR_MODULES:
        importlib.import_module(module)
    for declared in _declared.values():
        dramatiq.actor(
            broker=new,
            actor_name=declared.actor_name,
            queue_name=declared.queue_name,
            **declared.options,
        )(declared.fn)
    broker = new
    dramatiq.set_broker(new)
    return new


def _with_defaults(amqp_url: str) -> str:
    """Add connection defaults (short connect, heartbeats) unless the URL sets its own."""
    if "?" in amqp_url:
        return amqp_url
    return amqp_url + "?heartbeat=30&connection_attempts=1&blocked_connection_timeout=10"


def is_in_process() -> bool:
    """Whether messages stay in this process (no RabbitMQ configured)."""
    return isinstance(broker, StubBroker)


def send(message: Message) -> dramatiq.Message[Any]:
    """Send *message* to its actor and return once the broker has confirmed it.

    Raises:
        TypeError: *message* is not a declared message.
        BrokerUnavailable: RabbitMQ could not be reached or did not confirm.
    """
    from models.errors import BrokerUnavailable

    try:
        sent: dramatiq.Message[Any] = deliver(current_broker(), message)
        return sent
    except dramatiq.errors.ActorNotFound:
        raise
    except (dramatiq.errors.BrokerError, pika_errors(), OSError) as exc:
        _forget_connection(current_broker())
        raise BrokerUnavailable(f"message to {message.actor} not confirmed: {exc!r}") from exc


def _forget_connection(failed: dramatiq.Broker) -> None:
    """Drop this thread's RabbitMQ connection after a failed send, so the next send opens
    a fresh one.

    dramatiq drops it itself only for pika's connection and channel errors; any other
    failure (a connection in the wrong state, a socket error) would otherwise leave a dead
    connection in place and every later send from this thread would fail the same way.
    """
    if not hasattr(type(failed), "connection"):
        return
    try:
        del failed.connection  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - already gone or closing: nothing to keep
        log.debug("broker.forget_connection_failed", error=repr(exc))


def pika_errors() -> type[Exception]:
    """pika's base error, or a class nothing raises when pika is not installed."""
    try:
        from pika.exceptions import AMQPError
    except ImportError:  # pragma: no cover
        return type("NoPika", (Exception,), {})
    return AMQPError  # type: ignore[no-any-return]
