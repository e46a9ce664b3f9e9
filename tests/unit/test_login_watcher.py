"""The Mycelium watcher's shell and lease (on SQLite), the node API client and the stand-in node."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nacl.public
import pytest
import requests

from adapters.mycelium import (
    InboundMessage,
    MalformedMessage,
    MyceliumClient,
    MyceliumUnavailable,
)
from gateway.auth import challenges
from gateway.auth.challenges import MAX_FAILED_PROOFS_PER_BROWSER
from gateway.auth.lease import FileLease, lease_key, node_identity
from gateway.auth.watcher import LoginWatcher
from models import LoginChallenge
from tests.support.fake_mycelium import FakeMycelium
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY
from tests.support.procs import wait_until
from tests.support.services import free_port
from wire.times import utcnow

NOW = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)
SERVICE = nacl.public.PrivateKey(bytes(range(32)))


class Inbox:
    """A message source holding messages in memory (what the watcher reads)."""

    api_url = "http://127.0.0.1:8989/api/v1"

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

    def test_a_browser_with_too_many_failures_is_refused_a_good_message(
        self, challenge: LoginChallenge, node: FakeMycelium
    ) -> None:
        LoginChallenge.update(failed_attempts=MAX_FAILED_PROOFS_PER_BROWSER).where(
            LoginChallenge.id == challenge.id
        ).execute()
        same_browser = challenges.create_challenge(
            address=ALICE_ADDRESS, browser_token="browser", client_ip="x", ttl_s=300, now=NOW
        )
        watcher_for(Inbox(login_message(node, ALICE_KEY, same_browser.code))).poll_once()
        assert reload(same_browser).proven_at is None

    def test_a_strangers_failures_for_the_address_do_not_refuse_its_owner(
        self, challenge: LoginChallenge, node: FakeMycelium
    ) -> None:
        LoginChallenge.update(failed_attempts=MAX_FAILED_PROOFS_PER_BROWSER).where(
            LoginChallenge.id == challenge.id
        ).execute()
        owners = challenges.create_challenge(
            address=ALICE_ADDRESS, browser_token="owner", client_ip="x", ttl_s=300, now=NOW
        )
        watcher_for(Inbox(login_message(node, ALICE_KEY, owners.code))).poll_once()
        assert reload(owners).proven_at == NOW

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

    def test_a_topic_that_only_starts_with_the_filter_is_left(self, node: FakeMycelium) -> None:
        # mycelium/src/message.rs compares topics with ==, whatever docs/api.yaml says.
        node.send_login(ALICE_KEY, "k7m2-q9xp-4hrt", topic=b"hero.login.extra")
        node.send_login(ALICE_KEY, "k7m2-q9xp-4hrt", topic=b"hero")
        assert MyceliumClient(node.url).receive(topic=b"hero.login", timeout_s=0) is None
        assert node.delivered == 0

    def test_a_message_without_a_topic_is_left_by_the_login_filter(
        self, node: FakeMycelium
    ) -> None:
        node.send_login(ALICE_KEY, "k7m2-q9xp-4hrt", topic=None)
        assert MyceliumClient(node.url).receive(topic=b"hero.login", timeout_s=0) is None


class TestStandInNode:
    """The stand-in answers as the real node's handlers do (see its module docstring)."""

    def test_peek_leaves_the_message_and_a_plain_get_pops_it(self, node: FakeMycelium) -> None:
        node.send_login(ALICE_KEY, "k7m2-q9xp-4hrt")
        query = {"topic": "aGVyby5sb2dpbg==", "timeout": "0"}
        peeked = requests.get(node.url + "/messages", params={**query, "peek": "true"}, timeout=5)
        popped = requests.get(node.url + "/messages", params=query, timeout=5)
        again = requests.get(node.url + "/messages", params=query, timeout=5)
        assert (peeked.status_code, popped.status_code, again.status_code) == (200, 200, 204)
        assert peeked.json() == popped.json()
        assert again.content == b""

    def test_nothing_within_the_timeout_is_204_after_the_timeout(self, node: FakeMycelium) -> None:
        started = time.monotonic()
        answer = requests.get(node.url + "/messages", params={"timeout": "1"}, timeout=5)
        assert answer.status_code == 204
        assert time.monotonic() - started >= 0.9

    @pytest.mark.parametrize(
        "query", [{"peek": "yes"}, {"timeout": "1.5"}, {"timeout": "-1"}, {"topic": "%%"}]
    )
    def test_a_query_that_does_not_parse_is_400(
        self, node: FakeMycelium, query: dict[str, str]
    ) -> None:
        assert requests.get(node.url + "/messages", params=query, timeout=5).status_code == 400

    def test_a_long_poll_holds_the_api_lock_so_admin_waits(self, node: FakeMycelium) -> None:
        poll = threading.Thread(
            target=MyceliumClient(node.url).receive, kwargs={"topic": b"x", "timeout_s": 2}
        )
        poll.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert MyceliumClient(node.url).node_pubkey() == node.node_pubkey
        waited = time.monotonic() - started
        poll.join()
        assert waited >= 1.4
        assert node.max_queued == 1

    def test_a_long_poll_whose_client_left_frees_the_lock_and_pops_nothing(
        self, node: FakeMycelium
    ) -> None:
        with pytest.raises(requests.Timeout):
            requests.get(node.url + "/messages", params={"timeout": "5"}, timeout=0.3)
        node.send_login(ALICE_KEY, "k7m2-q9xp-4hrt")
        started = time.monotonic()
        assert MyceliumClient(node.url).receive(topic=b"hero.login", timeout_s=1) is not None
        assert time.monotonic() - started < 1.0


class TestLease:
    """One process at a time holds the lease on a node."""

    def test_the_key_names_the_node_not_the_spelling_of_its_url(self) -> None:
        assert node_identity("HTTP://Node:80/api/v1/") == node_identity("http://node/api/v1")
        assert lease_key("http://node:8989/api/v1") == lease_key("http://NODE:8989/api/v1/")
        assert lease_key("http://node:8989/api/v1") != lease_key("http://other:8989/api/v1")

    def test_a_file_lease_is_held_by_one_until_released(self, tmp_path: Path) -> None:
        first, second = FileLease(str(tmp_path / "l")), FileLease(str(tmp_path / "l"))
        assert first.acquire() and first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire() and not first.acquire()


def run_watcher(node: FakeMycelium, lease: FileLease) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    watcher = LoginWatcher(
        MyceliumClient(node.url),
        service_pubkey=node.node_pubkey,
        poll_timeout_s=1,
        lease=lease,
        standby_retry_s=0.1,
    )
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


class TestWatchersShareANode:
    """Watchers on one node: one polls, the others stand by and take over when it stops."""

    def test_one_watcher_polls_and_another_takes_over(
        self, sqlite_db: str, node: FakeMycelium, tmp_path: Path
    ) -> None:
        leases = [FileLease(str(tmp_path / "node.lock")) for _ in range(3)]
        running = [run_watcher(node, lease) for lease in leases]
        first = challenges.create_challenge(
            address=ALICE_ADDRESS, browser_token="a", client_ip="x", ttl_s=300, now=utcnow()
        )
        node.send_login(ALICE_KEY, first.code)
        wait_until(lambda: reload(first).proven_at, timeout=10, what="the first login")
        assert sum(lease.held for lease in leases) == 1
        leader = next(i for i, lease in enumerate(leases) if lease.held)
        thread, stop = running[leader]
        stop.set()
        thread.join(timeout=10)
        second = challenges.create_challenge(
            address=ALICE_ADDRESS, browser_token="b", client_ip="x", ttl_s=300, now=utcnow()
        )
        node.send_login(ALICE_KEY, second.code)
        wait_until(lambda: reload(second).proven_at, timeout=10, what="the login after takeover")
        assert sum(lease.held for lease in leases) == 1
        for _, other_stop in running:
            other_stop.set()
        assert node.max_queued == 0
