"""The Mycelium watcher's shell (on SQLite) and the node API client (on a local fake node)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import nacl.public
import pytest

from adapters.mycelium import (
    InboundMessage,
    MalformedMessage,
    MyceliumClient,
    MyceliumUnavailable,
)
from gateway.auth import challenges
from gateway.auth.challenges import MAX_FAILED_PROOFS_PER_ADDRESS
from gateway.auth.watcher import LoginWatcher
from models import LoginChallenge
from tests.support.fake_mycelium import FakeMycelium
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY
from tests.support.services import free_port

NOW = dt.datetime(2026, 11, 21, 12, 0, 0)
SERVICE = nacl.public.PrivateKey(bytes(range(32)))


class Inbox:
    """A message source holding messages in memory (what the watcher reads)."""

    def __init__(self, *messages: InboundMessage) -> None:
        self.messages = list(messages)

    def receive(self, *, topic: bytes, timeout_s: int) -> InboundMessage | None:
        return self.messages.pop(0) if self.messages else None

    def node_pubkey(self) -> str | None:
        return bytes(SERVICE.public_key).hex()


def login_message(fake: FakeMycelium, sender: nacl.public.PrivateKey, code: str) -> InboundMessage:
    return InboundMessage.from_api(fake.send_login(sender, code))


@pytest.fixture
def node() -> Iterator[FakeMycelium]:
    with FakeMycelium(SERVICE) as fake:
        yield fake


@pytest.fixture
def challenge(sqlite_db: str) -> LoginChallenge:
    return challenges.create_challenge(
        address=ALICE_ADDRESS, browser_token="browser", client_ip="198.51.100.7", ttl_s=300, now=NOW
    )


def watcher_for(source: object) -> LoginWatcher:
    return LoginWatcher(source, service_pubkey=bytes(SERVICE.public_key).hex(), clock=lambda: NOW)  # type: ignore[arg-type]


def reload(row: LoginChallenge) -> LoginChallenge:
    return LoginChallenge.get_by_id(row.id)


class TestWatcherShell:
    """A judged message is stored: proven, or a failed attempt counted."""

    def test_a_good_message_proves_the_challenge(
        self, challenge: LoginChallenge, node: FakeMycelium
    ) -> None:
        watcher_for(Inbox(login_message(node, ALICE_KEY, challenge.code))).poll_once()
        row = reload(challenge)
        assert (row.proven_at, row.proven_by) == (NOW, "message")

    def test_a_message_from_another_key_counts_a_failed_attempt(
        self, challenge: LoginChallenge, node: FakeMycelium
    ) -> None:
        watcher_for(Inbox(login_message(node, BOB_KEY, challenge.code))).poll_once()
        row = reload(challenge)
        assert (row.proven_at, row.failed_attempts) == (None, 1)

    def test_a_second_message_changes_nothing(
        self, challenge: LoginChallenge, node: FakeMycelium
    ) -> None:
        first = login_message(node, ALICE_KEY, challenge.code)
        watcher = watcher_for(Inbox(first, first))
        watcher.poll_once()
        verdict = watcher.poll_once()
        assert verdict is not None and not verdict.accepted
        assert reload(challenge).proven_at == NOW

    def test_an_address_with_too_many_failures_is_refused_a_good_message(
        self, challenge: LoginChallenge, node: FakeMycelium
    ) -> None:
        LoginChallenge.update(failed_attempts=MAX_FAILED_PROOFS_PER_ADDRESS).where(
            LoginChallenge.id == challenge.id
        ).execute()
        other = challenges.create_challenge(
            address=ALICE_ADDRESS, browser_token="b", client_ip="x", ttl_s=300, now=NOW
        )
        watcher_for(Inbox(login_message(node, ALICE_KEY, other.code))).poll_once()
        assert reload(other).proven_at is None

    def test_no_message_is_no_verdict(self, sqlite_db: str) -> None:
        assert watcher_for(Inbox()).poll_once() is None

    def test_the_watcher_stops_when_asked_while_the_node_is_down(self) -> None:
        stop = threading.Event()
        client = MyceliumClient(f"http://127.0.0.1:{free_port()}/api/v1")
        thread = threading.Thread(target=watcher_for(client).run, args=(stop,))
        thread.start()
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


class TestMyceliumClient:
    """The client of the node's message API, against a local server speaking it."""

    def test_it_pops_a_message_on_the_login_topic(self, node: FakeMycelium) -> None:
        sent = node.send_login(ALICE_KEY, "k7m2-q9xp-4hrt")
        got = MyceliumClient(node.url).receive(topic=b"hero.login", timeout_s=1)
        assert got == InboundMessage.from_api(sent) and node.delivered == 1

    def test_no_message_in_time_is_none(self, node: FakeMycelium) -> None:
        assert MyceliumClient(node.url).receive(topic=b"hero.login", timeout_s=0) is None

    def test_messages_on_other_topics_are_left(self, node: FakeMycelium) -> None:
        node.send_login(ALICE_KEY, "k7m2-q9xp-4hrt", topic=b"chat")
        assert MyceliumClient(node.url).receive(topic=b"hero.login", timeout_s=0) is None

    def test_it_reads_the_nodes_public_key(self, node: FakeMycelium) -> None:
        assert MyceliumClient(node.url).node_pubkey() == node.node_pubkey

    def test_a_node_that_is_down_is_unavailable(self) -> None:
        client = MyceliumClient(f"http://127.0.0.1:{free_port()}/api/v1")
        with pytest.raises(MyceliumUnavailable):
            client.receive(topic=b"hero.login", timeout_s=0)

    def test_a_message_that_is_not_the_documented_shape_is_malformed(
        self, node: FakeMycelium
    ) -> None:
        node.push({"id": "1", "topic": "aGVyby5sb2dpbg==", "payload": "%%%"})
        with pytest.raises(MalformedMessage):
            MyceliumClient(node.url).receive(topic=b"hero.login", timeout_s=0)
