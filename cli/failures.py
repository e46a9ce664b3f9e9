"""Expected failures of the services a process needs, each told as one line.

The database, RabbitMQ and the HTTP port fail in ways an operator can fix: these say
which one failed, where, and what to do, instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

#: Seconds a check waits for RabbitMQ to answer before it counts as down.
PROBE_TIMEOUT_S = 5.0
#: Causes worth naming when a connection fails, as the client's text says them.
_REASONS = ("Connection refused", "timed out", "Name or service not known", "No route to host")


@contextlib.contextmanager
def quiet_pika() -> Iterator[None]:
    """pika logs every failed attempt with a traceback; the caller says it in one line."""
    logger = logging.getLogger("pika")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def describe_broker_failure(exc: BaseException, amqp_url: str) -> str:
    """One line for a RabbitMQ failure *exc* at *amqp_url* (never its password)."""
    parts = urlsplit(amqp_url)
    where = f"RabbitMQ at {parts.hostname or '127.0.0.1'}:{parts.port or 5672}"
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "vhost" in text.lower() or "NOT_ALLOWED" in text or "AccessDenied" in repr(exc):
        return (
            f"{where} refused the virtual host {vhost!r} to this user: create it "
            f"(rabbitmqctl add_vhost {vhost} and set_permissions), or fix HERO_AMQP_URL"
        )
    if "ACCESS_REFUSED" in text or "Authentication" in repr(exc):
        return f"{where} refused the user or password of HERO_AMQP_URL"
    reason = next((r for r in _REASONS if r.lower() in text.lower()), type(exc).__name__)
    return f"{where} does not answer ({reason}): is it running, and is HERO_AMQP_URL right?"


def is_lasting(problem: str) -> bool:
    """Whether a broker *problem* from `probe_broker` stays until an operator fixes the
    configuration (a URL, user or virtual host), as against RabbitMQ not answering yet."""
    return "does not answer" not in problem


def probe_broker(amqp_url: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Connect to RabbitMQ once; None when it answered, else what is wrong (see
    `is_lasting`)."""
    import pika
    import pika.exceptions

    try:
        params = pika.URLParameters(amqp_url)
    except (TypeError, ValueError) as exc:  # pika's parser fails on e.g. a user without password
        return f"HERO_AMQP_URL cannot be read by the RabbitMQ client ({exc}): give user:password@"
    params.socket_timeout = timeout_s
    params.blocked_connection_timeout = timeout_s
    params.stack_timeout = timeout_s
    params.connection_attempts = 1
    try:
        with quiet_pika():
            pika.BlockingConnection(params).close()
    except (pika.exceptions.AMQPError, OSError) as exc:
        return describe_broker_failure(exc, amqp_url)
    return None


def describe_port_busy(host: str, port: int) -> str:
    """What to do when the gateway's address is taken."""
    shown = f"[{host}]" if ":" in host else host
    other = port + 1 if port < 65535 else 8081
    return (
        f"{shown}:{port} is already in use by another program: stop it, or choose another "
        f"address with HERO_HTTP_ADDR (for example HERO_HTTP_ADDR={shown}:{other})"
    )


def is_port_busy(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE
