"""Broker set-up: the one place that chooses RabbitMQ or the in-process broker.

Importing this package installs the in-process broker, so actor modules always bind
to a broker that needs no server. ``configure_broker(amqp_url)`` is called by every
entry point before it sends or consumes: with a URL it moves every actor to RabbitMQ
(publisher confirms on), without one it keeps the in-process broker.
"""

from __future__ import annotations

import importlib
from typing import Any

import dramatiq
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

#: Actor modules, imported by ``configure_broker`` so every actor is declared.
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
    "actors.low_balance",
    "actors.kyc",
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


broker: dramatiq.Broker = _in_process_broker()
dramatiq.set_broker(broker)


def configure_broker(amqp_url: str | None) -> dramatiq.Broker:
    """Choose the broker for this process and bind every actor to it.

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
    for name in broker.get_declared_actors():
        actor = broker.get_actor(name)
        actor.broker = new
        new.declare_actor(actor)
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
        sent: dramatiq.Message[Any] = deliver(broker, message)
        return sent
    except dramatiq.errors.ActorNotFound:
        raise
    except (dramatiq.errors.BrokerError, pika_errors(), OSError) as exc:
        raise BrokerUnavailable(f"message to {message.actor} not confirmed: {exc!r}") from exc


def pika_errors() -> type[Exception]:
    """pika's base error, or a class nothing raises when pika is not installed."""
    try:
        from pika.exceptions import AMQPError
    except ImportError:  # pragma: no cover
        return type("NoPika", (Exception,), {})
    return AMQPError  # type: ignore[no-any-return]
