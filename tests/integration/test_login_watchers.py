"""Several gateways on one Mycelium node: one polls at a time, and another takes over.

The node (tests/support/fake_mycelium.py) holds its API lock for the whole of a long poll,
as the real one does, so gateways polling side by side would queue behind each other and
time out. On PostgreSQL the lease is an advisory lock on a connection of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import nacl.public
import pytest

from gateway.auth.lease import PostgresLease, lease_for
from models import db
from tests.support.fake_mycelium import FakeMycelium
from tests.support.login import ALICE_KEY, BOB_KEY, address_of, challenge_status, start_challenge
from tests.support.procs import HeroProcess, wait_until
from tests.support.stack import Stack

#: Seconds a login by message may take once the message is in the node's inbox.
LOGIN_WITHIN_S = 5.0
#: Seconds a standing-by gateway may take to lead after the leader died.
TAKEOVER_WITHIN_S = 5.0


@pytest.fixture
def node(pg_stack: Stack) -> Iterator[FakeMycelium]:
    key = nacl.public.PrivateKey(Path(pg_stack.env["HERO_MYCELIUM_KEY"]).read_bytes())
    with FakeMycelium(key) as fake:
        yield fake


def leaders(gateways: list[HeroProcess]) -> list[HeroProcess]:
    """The gateways whose last lease event is leading."""
    found = []
    for gateway in gateways:
        events = [
            line
            for line in gateway.log_text.splitlines()
            if "login.watcher_leading" in line or "login.watcher_standby" in line
        ]
        alive = gateway.proc is not None and gateway.proc.poll() is None
        if alive and events and "login.watcher_leading" in events[-1]:
            found.append(gateway)
    return found


def login_by_message(url: str, node: FakeMycelium, key: nacl.public.PrivateKey) -> float:
    """Log a new browser in at *url* by a Mycelium message; the seconds it took."""
    import requests

    browser = requests.Session()
    challenge = start_challenge(browser, url, address_of(key))
    sent = time.monotonic()
    node.send_login(key, challenge["code"])
    wait_until(
        lambda: challenge_status(browser, url, challenge["id"])["status"] == "logged_in",
        timeout=LOGIN_WITHIN_S,
        interval=0.1,
        what="the login by message",
    )
    return time.monotonic() - sent


def test_three_gateways_share_a_node_and_one_takes_over(
    pg_stack: Stack, node: FakeMycelium
) -> None:
    # Given three gateways on PostgreSQL watching one node,
    urls = [pg_stack.gateway(name=f"gateway-{i}", HERO_MYCELIUM_API=node.url) for i in range(3)]
    gateways = [pg_stack.process(f"gateway-{i}") for i in range(3)]
    for gateway in gateways:
        gateway.wait_lines("login.watcher_", timeout=15)
    # and time for several long polls (each holds the node's lock for 5 s),
    time.sleep(12)
    # exactly one polls, nobody queues behind it, and a login by message is quick.
    assert len(leaders(gateways)) == 1
    assert login_by_message(urls[1], node, ALICE_KEY) < LOGIN_WITHIN_S
    assert node.max_queued == 0
    assert not any(g.count_lines("mycelium.unreachable") for g in gateways)

    # When the leader dies, another gateway leads within a few seconds,
    leader = leaders(gateways)[0]
    leader.kill()
    killed_at = time.monotonic()
    survivors = [g for g in gateways if g is not leader]
    wait_until(lambda: leaders(survivors), timeout=TAKEOVER_WITHIN_S, what="a new leader")
    assert time.monotonic() - killed_at < TAKEOVER_WITHIN_S
    # and a second login by message works, through any surviving gateway.
    url = urls[gateways.index(survivors[0])]
    login_by_message(url, node, BOB_KEY)
    time.sleep(6)
    assert len(leaders(survivors)) == 1
    assert not any(g.count_lines("mycelium.unreachable") for g in survivors)


class TestPostgresLease:
    """The advisory lock is one holder's, and freed when its connection ends."""

    def test_one_holder_and_the_next_after_release(self, pg_db: str) -> None:
        first, second = (lease_for(db.obj, api_url="http://node:8989/api/v1") for _ in range(2))
        assert isinstance(first, PostgresLease)
        assert first.acquire() and first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire() and not first.acquire()
        second.release()

    def test_other_nodes_have_other_leases(self, pg_db: str) -> None:
        here = lease_for(db.obj, api_url="http://node-a:8989/api/v1")
        there = lease_for(db.obj, api_url="http://node-b:8989/api/v1")
        assert here.acquire() and there.acquire()
        here.release()
        there.release()

    def test_a_holder_whose_connection_is_cut_loses_the_lease(self, pg_db: str) -> None:
        first = lease_for(db.obj, api_url="http://node:8989/api/v1")
        second = lease_for(db.obj, api_url="http://node:8989/api/v1")
        assert first.acquire()
        db.execute_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'hero-login-watcher' AND datname = current_database()"
        )
        assert second.acquire()
        assert not first.acquire()
        second.release()
        first.release()
