"""Login end to end: real gateway and worker processes, a local Mycelium node API, real CLIs.

Each test runs on PostgreSQL and on SQLite (the ``stack`` fixture).
"""

from __future__ import annotations

import http.client
import ipaddress
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import nacl.public
import pytest
import requests

from gateway.auth.proofs import MAX_FAILED_PROOFS_PER_CHALLENGE
from models import Account, Session, TopUp
from tests.support.fake_mycelium import FakeMycelium
from tests.support.login import (
    ALICE_ADDRESS,
    ALICE_KEY,
    BOB_KEY,
    address_of,
    challenge_status,
    login,
    prove_with_key,
    session_info,
    start_challenge,
)
from tests.support.procs import BIN, HeroProcess, wait_until
from tests.support.stack import Stack
from wire.address import derive_address

JSON = {"Accept": "application/json"}


@dataclass
class Login:
    """A gateway reading a local Mycelium node, and the browser that asked for a login."""

    url: str
    node: FakeMycelium
    gateway: HeroProcess
    stack: Stack

    def browser(self) -> requests.Session:
        return requests.Session()

    def wait_handled(self, count: int) -> None:
        """Wait until the gateway has judged *count* Mycelium messages."""
        self.node.wait_delivered(count)
        self.gateway.wait_lines("login.message", count=count)

    def status(self, browser: requests.Session, challenge: dict[str, str]) -> str:
        return str(challenge_status(browser, self.url, challenge["id"])["status"])

    def logged_in_as(self, browser: requests.Session) -> str | None:
        answer = session_info(browser, self.url)
        return str(answer.json()["address"]) if answer.status_code == 200 else None


def neighbour_of(address: ipaddress.IPv6Address) -> str:
    """Another address in the same /64 as *address*."""
    return str(ipaddress.IPv6Address(address.packed[:15] + bytes([address.packed[15] ^ 1])))


#: An address that shares Bob's /64 but is not his (nobody holds its key).
BOBS_NEIGHBOUR = neighbour_of(derive_address(bytes(BOB_KEY.public_key)))


#: ``next`` values as sent on the wire, that once left the site or gave a 500.
HOSTILE_RAW_NEXT = [
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0D%0ASet-Cookie:%20x=1",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%E2%80%A8/evil.example",
    "/%C3%A9t%C3%A9",
    "/%FF%FE",
    "https://evil.example",
]


@pytest.fixture
def node(stack: Stack) -> Iterator[FakeMycelium]:
    key = nacl.public.PrivateKey(Path(stack.env["HERO_MYCELIUM_KEY"]).read_bytes())
    with FakeMycelium(key) as fake:
        yield fake


def start(stack: Stack, node: FakeMycelium, **overrides: str) -> Login:
    url = stack.gateway(HERO_MYCELIUM_API=node.url, **overrides)
    return Login(url=url, node=node, gateway=stack.process("gateway"), stack=stack)


@pytest.fixture
def running(stack: Stack, node: FakeMycelium) -> Login:
    return start(stack, node)


class TestMyceliumMessageLogin:
    """``mycelium message send <service_pk> <code> --topic hero.login`` proves the login."""

    def test_a_message_from_the_addresss_key_logs_the_asking_browser_in(
        self, running: Login
    ) -> None:
        worker = running.stack.worker()
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        running.node.send_login(ALICE_KEY, challenge["code"])
        wait_until(lambda: running.status(browser, challenge) == "logged_in", what="the login")
        assert running.logged_in_as(browser) == ALICE_ADDRESS
        # The first login of an address creates its account, through a worker.
        worker.wait_lines("ensure_account", "message.processed")
        assert Account.get_or_none(Account.address == ALICE_ADDRESS) is not None

    def test_a_message_from_another_key_is_refused(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        running.node.send_login(BOB_KEY, challenge["code"])
        running.wait_handled(1)
        assert running.status(browser, challenge) == "pending"
        assert running.logged_in_as(browser) is None

    def test_a_message_with_the_wrong_code_is_refused(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        running.node.send_login(ALICE_KEY, "aaaa-bbbb-cccc")
        running.wait_handled(1)
        assert running.status(browser, challenge) == "pending"

    def test_a_message_after_expiry_is_refused(self, stack: Stack, node: FakeMycelium) -> None:
        running = start(stack, node, HERO_LOGIN_TTL_S="1")
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        time.sleep(1.2)
        node.send_login(ALICE_KEY, challenge["code"])
        running.wait_handled(1)
        assert running.status(browser, challenge) == "expired"
        assert running.logged_in_as(browser) is None

    def test_a_second_message_logs_nobody_in_again(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        message = running.node.send_login(ALICE_KEY, challenge["code"])
        wait_until(lambda: running.status(browser, challenge) == "logged_in", what="the login")
        running.node.push({**message, "id": "feedfacefeedface"})
        running.wait_handled(2)
        assert running.gateway.count_lines("login.message", '"outcome": "refused"') == 1
        assert running.status(browser, challenge) == "used"
        assert Session.select().count() == 1

    def test_a_neighbour_in_the_same_64_is_refused(self, running: Login) -> None:
        # Bob's own node sends (srcIp is his address) for a login of an address in his /64.
        browser = running.browser()
        challenge = start_challenge(browser, running.url, BOBS_NEIGHBOUR)
        running.node.send_login(BOB_KEY, challenge["code"])
        running.wait_handled(1)
        assert running.status(browser, challenge) == "pending"

    def test_a_neighbours_key_with_the_victims_64_as_source_is_refused(
        self, running: Login
    ) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        victims_64 = neighbour_of(derive_address(bytes(ALICE_KEY.public_key)))
        running.node.send_login(BOB_KEY, challenge["code"], src_ip=victims_64)
        running.wait_handled(1)
        assert running.status(browser, challenge) == "pending"


class TestKeyProofLogin:
    """``hero-login prove CODE --key FILE`` (or any client posting the box) proves the login."""

    def test_hero_login_prove_logs_the_asking_browser_in(
        self, running: Login, tmp_path: Path
    ) -> None:
        running.stack.worker()
        (tmp_path / "priv_key.bin").write_bytes(bytes(ALICE_KEY))
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        proved = subprocess.run(
            [
                str(BIN / "hero-login"),
                "prove",
                challenge["code"],
                "--key",
                str(tmp_path / "priv_key.bin"),
                "--url",
                running.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proved.returncode == 0, proved.stderr
        assert running.status(browser, challenge) == "logged_in"
        assert running.logged_in_as(browser) == ALICE_ADDRESS

    def test_a_proof_from_another_key_is_refused(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        assert prove_with_key(running.url, challenge, BOB_KEY).status_code == 403
        assert running.status(browser, challenge) == "pending"

    def test_a_proof_with_the_wrong_code_is_refused(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        answer = prove_with_key(running.url, challenge, ALICE_KEY, code="aaaa-bbbb-cccc")
        assert answer.status_code == 403
        assert running.status(browser, challenge) == "pending"

    def test_a_proof_after_expiry_is_refused(self, stack: Stack, node: FakeMycelium) -> None:
        running = start(stack, node, HERO_LOGIN_TTL_S="1")
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        time.sleep(1.2)
        assert prove_with_key(running.url, challenge, ALICE_KEY).status_code == 409
        assert running.status(browser, challenge) == "expired"

    def test_a_second_proof_is_refused(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        assert prove_with_key(running.url, challenge, ALICE_KEY).status_code == 200
        assert running.status(browser, challenge) == "logged_in"
        assert prove_with_key(running.url, challenge, ALICE_KEY).status_code == 409
        assert running.status(browser, challenge) == "used"

    def test_a_proof_for_a_neighbour_in_the_same_64_is_refused(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, BOBS_NEIGHBOUR)
        assert prove_with_key(running.url, challenge, BOB_KEY).status_code == 403
        assert running.status(browser, challenge) == "pending"


class TestSecurity:
    """CSRF, cookie flags, ids that are someone else's, and rate limits."""

    def test_a_post_without_the_csrf_token_is_refused(self, running: Login) -> None:
        browser = running.browser()
        login(browser, running.url, wait_for_account=False)
        for path in ("/topup", "/logout"):
            answer = browser.post(running.url + path, data={"amount": "5"}, headers=JSON)
            assert answer.status_code == 403, path
        assert running.logged_in_as(browser) == ALICE_ADDRESS

    def test_the_session_cookie_is_httponly_and_samesite_lax(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        prove_with_key(running.url, challenge, ALICE_KEY)
        answer = browser.get(f"{running.url}/auth/challenges/{challenge['id']}", headers=JSON)
        cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith("hero_session=")
        assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= {p.strip() for p in cookie.split(";")}

    def test_production_cookies_are_secure(self, stack: Stack, node: FakeMycelium) -> None:
        # A prod-shaped gateway on the test stack (SQLite, test keys, http): started anyway.
        # Identity verification is iDenfy in production, and its keys are the one thing the
        # gateway cannot be built without (its webhook route verifies with them).
        running = start(
            stack,
            node,
            HERO_ENV="prod",
            HERO_START_UNREADY="true",
            HERO_IDENFY_API_KEY="idenfy-test-key",
            HERO_IDENFY_API_SECRET="idenfy-test-secret",
            HERO_IDENFY_SIGNING_KEY="idenfy-test-signing-key",
        )
        started = requests.post(
            f"{running.url}/auth/challenges",
            json={"address": ALICE_ADDRESS},
            headers=JSON,
            timeout=30,
        )
        # A JSON client without the login page's cookie has no CSRF token: refused.
        assert started.status_code == 403
        page = requests.get(f"{running.url}/login", timeout=30)
        assert "Secure" in page.headers["Set-Cookie"].split("; ")
        csrf = page.cookies["hero_csrf"]
        started = requests.post(
            f"{running.url}/auth/challenges",
            data={"address": ALICE_ADDRESS, "csrf_token": csrf},
            headers={**JSON, "Cookie": f"hero_csrf={csrf}"},
            timeout=30,
        )
        assert "Secure" in started.headers["Set-Cookie"].split("; ")
        prove_with_key(running.url, started.json(), ALICE_KEY)
        binding = started.cookies["hero_login"]
        session = requests.get(
            f"{running.url}/auth/challenges/{started.json()['id']}",
            headers={**JSON, "Cookie": f"hero_login={binding}"},
            timeout=30,
        )
        assert session.json()["status"] == "logged_in"
        assert "Secure" in session.headers["Set-Cookie"].split("; ")

    def test_another_browser_cannot_use_a_proven_challenge(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        prove_with_key(running.url, challenge, ALICE_KEY)
        thief = running.browser()
        start_challenge(thief, running.url, address_of(BOB_KEY))
        stolen = thief.get(f"{running.url}/auth/challenges/{challenge['id']}", headers=JSON)
        assert stolen.status_code == 404
        assert running.logged_in_as(thief) is None
        assert running.status(browser, challenge) == "logged_in"

    def test_a_top_up_is_visible_to_its_owner_only(self, running: Login) -> None:
        running.stack.worker()
        alice, bob = running.browser(), running.browser()
        login(alice, running.url, ALICE_KEY)
        login(bob, running.url, BOB_KEY)
        account = Account.get(Account.address == ALICE_ADDRESS)
        TopUp.create(public_id="HEROALICE1", account=account, provider="stripe", amount_cents=500)
        url = f"{running.url}/topups/HEROALICE1"
        assert alice.get(url, headers=JSON, timeout=30).json()["amount_cents"] == 500
        assert bob.get(url, headers=JSON, timeout=30).status_code == 404
        assert requests.get(url, headers=JSON, timeout=30).status_code == 401

    def test_repeated_failed_proofs_are_rate_limited(self, running: Login) -> None:
        browser = running.browser()
        challenge = start_challenge(browser, running.url, ALICE_ADDRESS)
        for _ in range(MAX_FAILED_PROOFS_PER_CHALLENGE):
            assert prove_with_key(running.url, challenge, BOB_KEY).status_code == 403
        limited = prove_with_key(running.url, challenge, ALICE_KEY)
        assert limited.status_code == 429
        assert "Too many failed attempts" in limited.json()["description"]
        assert running.status(browser, challenge) == "pending"

    def test_a_strangers_failures_for_an_address_do_not_lock_its_owner_out(
        self, running: Login
    ) -> None:
        # Given a stranger's failed proofs on three challenges of their own for Alice's
        # address (more failures than any per-address limit would allow),
        for _ in range(3):
            stranger = running.browser()
            challenge = start_challenge(stranger, running.url, ALICE_ADDRESS)
            for _ in range(MAX_FAILED_PROOFS_PER_CHALLENGE):
                assert prove_with_key(running.url, challenge, BOB_KEY).status_code == 403
        # Alice's own fresh challenge still logs her in, by key and by message.
        owner = running.browser()
        challenge = start_challenge(owner, running.url, ALICE_ADDRESS)
        assert prove_with_key(running.url, challenge, ALICE_KEY).status_code == 200
        assert running.status(owner, challenge) == "logged_in"
        by_message = running.browser()
        challenge = start_challenge(by_message, running.url, ALICE_ADDRESS)
        running.node.send_login(ALICE_KEY, challenge["code"])
        wait_until(lambda: running.status(by_message, challenge) == "logged_in", what="login")

    def test_next_through_the_real_server_never_leaves_the_site(self, running: Login) -> None:
        browser = running.browser()
        login(browser, running.url, wait_for_account=False)
        host = urlsplit(running.url)
        answers = {}
        for raw_next in HOSTILE_RAW_NEXT:
            conn = http.client.HTTPConnection(host.hostname or "", host.port, timeout=30)
            conn.request(
                "GET",
                f"/login?next={raw_next}",
                headers={"Cookie": f"hero_session={browser.cookies['hero_session']}"},
            )
            answer = conn.getresponse()
            answers[raw_next] = (answer.status, answer.getheader("Location"))
            conn.close()
        assert answers == {raw: (303, "/") for raw in HOSTILE_RAW_NEXT}

    def test_logout_ends_the_session_for_every_gateway(self, running: Login) -> None:
        other = running.stack.gateway(name="gateway-2", HERO_MYCELIUM_API=running.node.url)
        browser = running.browser()
        user = login(browser, running.url, wait_for_account=False)
        assert session_info(browser, other).status_code == 200
        token = browser.cookies["hero_session"]
        browser.post(f"{running.url}/logout", data={"csrf_token": user.csrf_token}, timeout=30)
        browser.cookies.set("hero_session", token)
        assert session_info(browser, other).status_code == 401
