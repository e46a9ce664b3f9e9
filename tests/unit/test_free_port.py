"""Test servers get ports outgoing connections never draw from."""

from __future__ import annotations

import socket

import pytest

from tests.support.services import TEST_PORTS, _ephemeral_low, free_port


def test_a_free_port_is_bindable_and_below_the_ephemeral_range() -> None:
    ports = {free_port() for _ in range(20)}
    assert all(p in TEST_PORTS and p < _ephemeral_low() for p in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", TEST_PORTS[0]))
        taken.listen()
        monkeypatch.setattr("random.sample", lambda population, k: [TEST_PORTS[0], TEST_PORTS[1]])
        assert free_port() == TEST_PORTS[1]
