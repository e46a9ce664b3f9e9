"""Sending through real RabbitMQ when the connection is cut: the send that fails says so
(BrokerUnavailable), and the next send from the same thread opens a fresh connection
instead of failing forever on the dead one."""

from __future__ import annotations

from collections.abc import Iterator

import pika.exceptions
import pytest

import actors
from messages import ApplyUsageBatch
from models.errors import BrokerUnavailable
from tests.support.procs import wait_until
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def proxied(amqp_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", 5672)).up()
    vhost = amqp_url.rsplit("/", 1)[1]
    actors.build_broker(f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}")
    yield proxy
    proxy.down()
    actors.current_broker().close()
    actors.build_broker(None)


def send() -> None:
    actors.send(ApplyUsageBatch(records=[], via="nats"))


def sends_again() -> bool:
    try:
        send()
    except BrokerUnavailable:
        return False
    return True


def test_a_cut_connection_fails_one_send_and_the_next_reconnects(proxied: TcpProxy) -> None:
    send()
    proxied.down()
    with pytest.raises(BrokerUnavailable):
        send()
    proxied.up()
    wait_until(sends_again, timeout=30, what="a send on a fresh connection")


def test_a_connection_in_a_state_dramatiq_keeps_is_dropped_after_the_failure(
    proxied: TcpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    send()
    broker = actors.current_broker()
    dead = broker.connection  # type: ignore[attr-defined]
    real_enqueue = type(broker).enqueue
    calls = {"n": 0}

    def wrong_state_once(self, message, *, delay=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise pika.exceptions.ConnectionWrongStateError("Connection is closed")
        return real_enqueue(self, message, delay=delay)

    monkeypatch.setattr(type(broker), "enqueue", wrong_state_once)
    with pytest.raises(BrokerUnavailable):
        send()
    send()
    assert broker.connection is not dead  # type: ignore[attr-defined]
