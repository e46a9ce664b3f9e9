"""Login over HTTP in-process: challenges bound to a browser, key proofs, sessions started once."""

from __future__ import annotations

import re

import falcon.testing
import pytest

from gateway.auth.challenges import (
    MAX_CHALLENGES_PER_ADDRESS_AND_IP,
    MAX_CHALLENGES_PER_IP,
    MAX_FAILED_PROOFS_PER_IP,
    sha256_hex,
)
from gateway.auth.proofs import CODE_PATTERN, MAX_FAILED_PROOFS_PER_CHALLENGE
from models import LoginChallenge, Session
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY
from tests.support.web import (
    HTML,
    SERVICE_KEY,
    Browser,
    Clock,
    Sent,
    make_app,
    prove,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(sqlite_db: str, clock: Clock, sent: Sent) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(clock, sent))


@pytest.fixture
def browser(client: falcon.testing.TestClient) -> Browser:
    return Browser(client)


class TestStartingALogin:
    """``POST /auth/challenges`` answers a code and binds it to the asking browser."""

    def test_it_answers_201_with_the_challenge(self, browser: Browser) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        assert set(challenge) == {"id", "code", "service_pubkey", "topic", "expires_at"}

    def test_the_code_is_easy_to_type(self, browser: Browser) -> None:
        assert CODE_PATTERN.match(browser.start_login(ALICE_ADDRESS)["code"])

    def test_it_names_the_service_key_and_topic(self, browser: Browser) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        assert (challenge["service_pubkey"], challenge["topic"]) == (
            bytes(SERVICE_KEY.public_key).hex(),
            "hero.login",
        )

    def test_it_expires_in_five_minutes(self, browser: Browser) -> None:
        assert browser.start_login(ALICE_ADDRESS)["expires_at"] == "2026-11-21T12:05:00Z"

    def test_the_address_is_stored_canonical(self, browser: Browser) -> None:
        challenge = browser.start_login(ALICE_ADDRESS.upper())
        assert LoginChallenge.get(LoginChallenge.public_id == challenge["id"]).address == (
            ALICE_ADDRESS
        )

    def test_only_the_hash_of_the_binding_token_is_stored(self, browser: Browser) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        row = LoginChallenge.get(LoginChallenge.public_id == challenge["id"])
        assert row.browser_hash == sha256_hex(browser.cookies["hero_login"])

    def test_the_binding_cookie_is_httponly_lax_and_scoped_to_auth(self, browser: Browser) -> None:
        browser.start_login(ALICE_ADDRESS)
        assert browser.last is not None
        cookie = browser.last.cookies["hero_login"]
        assert (cookie.http_only, cookie.same_site, cookie.path, cookie.secure) == (
            True,
            "Lax",
            "/auth/",
            False,
        )

    def test_a_bad_address_answers_400_naming_the_field(self, browser: Browser) -> None:
        result = browser.post_form(
            "/auth/challenges", {"address": "2001:db8::1", "csrf_token": browser.csrf()}
        )
        assert (result.status_code, result.json["description"][:8]) == (400, "address:")

    def test_without_the_csrf_token_it_answers_403(self, browser: Browser) -> None:
        browser.csrf()
        result = browser.post_form("/auth/challenges", {"address": ALICE_ADDRESS})
        assert result.status_code == 403

    def test_the_form_goes_on_to_the_waiting_page(self, browser: Browser) -> None:
        form = {"address": ALICE_ADDRESS, "csrf_token": browser.csrf(), "next": "/topup"}
        result = browser.post_form("/auth/challenges", form, headers=HTML)
        assert result.status_code == 303
        location = result.headers["Location"]
        assert re.fullmatch(r"/auth/challenges/ch_[0-9a-f]{32}\?next=%2Ftopup", location)

    def test_the_waiting_page_shows_both_commands(self, browser: Browser) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        page = browser.get(f"/auth/challenges/{challenge['id']}", headers=HTML).text
        service = challenge["service_pubkey"]
        assert f"mycelium message send {service} {challenge['code']} --topic hero.login" in page
        assert f"hero-login prove {challenge['code']} --key priv_key.bin" in page

    def test_the_waiting_page_loads_its_script_from_static(self, browser: Browser) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        page = browser.get(f"/auth/challenges/{challenge['id']}", headers=HTML).text
        assert '<script src="/static/login.js" defer></script>' in page and "<script>" not in page


class TestKeyProofLogin:
    """A key proof proves the challenge; the bound browser's next look starts its session once."""

    def test_a_good_proof_answers_proven(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        result = prove(client, challenge, ALICE_KEY)
        assert (result.status_code, result.json["status"]) == (200, "proven")

    def test_the_proof_can_name_the_code_instead_of_the_id(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        assert prove(client, challenge, ALICE_KEY, reference=challenge["code"]).status_code == 200

    def test_the_bound_browser_is_logged_in(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "logged_in"
        assert browser.get("/auth/session").json["address"] == ALICE_ADDRESS

    def test_login_sends_ensure_account_once(
        self, browser: Browser, client: falcon.testing.TestClient, sent: Sent
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        browser.get(f"/auth/challenges/{challenge['id']}")
        browser.get(f"/auth/challenges/{challenge['id']}")
        assert sent.calls == [("ensure_account", {"address": ALICE_ADDRESS})]

    def test_a_second_look_does_not_start_a_second_session(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        browser.get(f"/auth/challenges/{challenge['id']}")
        assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "used"
        assert Session.select().count() == 1

    def test_the_session_cookie_is_httponly_and_lax(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        cookie = browser.get(f"/auth/challenges/{challenge['id']}").cookies["hero_session"]
        assert (cookie.http_only, cookie.same_site, cookie.path) == (True, "Lax", "/")

    def test_only_the_hash_of_the_session_token_is_stored(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        browser.get(f"/auth/challenges/{challenge['id']}")
        token = browser.cookies["hero_session"]
        assert Session.get().token_hash == sha256_hex(token) != token

    def test_another_browser_cannot_see_or_use_the_challenge(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        thief = Browser(client, ip="203.0.113.9")
        thief.start_login(ALICE_ADDRESS)  # it has a binding cookie of its own
        assert thief.get(f"/auth/challenges/{challenge['id']}").status_code == 404
        assert "hero_session" not in thief.cookies

    def test_a_proof_from_another_key_is_refused(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        assert prove(client, challenge, BOB_KEY).status_code == 403
        assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "pending"

    def test_a_proof_with_the_wrong_code_is_refused(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        assert prove(client, challenge, ALICE_KEY, code="aaaa-bbbb-cccc").status_code == 403

    def test_a_proof_after_expiry_is_refused(
        self, browser: Browser, client: falcon.testing.TestClient, clock: Clock
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        clock.advance(300)
        assert prove(client, challenge, ALICE_KEY).status_code == 409
        assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "expired"

    def test_a_second_proof_is_refused(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        assert prove(client, challenge, ALICE_KEY).status_code == 409

    def test_an_unknown_challenge_answers_404(self, client: falcon.testing.TestClient) -> None:
        fake = {"id": "ch_" + "0" * 32, "code": "aaaa-bbbb-cccc"}
        assert prove(client, fake, ALICE_KEY).status_code == 404

    def test_repeated_failed_proofs_are_rate_limited(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        for _ in range(MAX_FAILED_PROOFS_PER_CHALLENGE):
            assert prove(client, challenge, BOB_KEY).status_code == 403
        limited = prove(client, challenge, ALICE_KEY)
        assert (limited.status_code, limited.json["title"]) == (429, "Too many attempts")
        assert limited.headers["Retry-After"] == "600"

    def test_failed_proofs_across_challenges_limit_the_browser(
        self, browser: Browser, client: falcon.testing.TestClient
    ) -> None:
        for _ in range(2):
            challenge = browser.start_login(ALICE_ADDRESS)
            for _ in range(MAX_FAILED_PROOFS_PER_CHALLENGE):
                prove(client, challenge, BOB_KEY)
        fresh = browser.start_login(ALICE_ADDRESS)
        limited = prove(client, fresh, ALICE_KEY)
        assert (limited.status_code, "from this browser" in limited.json["description"]) == (
            429,
            True,
        )

    def test_failed_proofs_from_one_network_limit_its_browsers(
        self, client: falcon.testing.TestClient
    ) -> None:
        failed = 0
        while failed < MAX_FAILED_PROOFS_PER_IP:
            challenge = Browser(client).start_login(ALICE_ADDRESS)  # cookies dropped each time
            for _ in range(MAX_FAILED_PROOFS_PER_CHALLENGE):
                prove(client, challenge, BOB_KEY)
            failed += MAX_FAILED_PROOFS_PER_CHALLENGE
        limited = prove(client, Browser(client).start_login(ALICE_ADDRESS), ALICE_KEY)
        assert (limited.status_code, "from your network" in limited.json["description"]) == (
            429,
            True,
        )

    def test_a_strangers_failures_for_an_address_do_not_stop_its_owner(
        self, client: falcon.testing.TestClient
    ) -> None:
        # Given a stranger who failed every proof they could, on challenges for Alice's
        # address, from one browser and then from fresh browsers of their network,
        stranger_failed = 0
        while stranger_failed < MAX_FAILED_PROOFS_PER_IP + MAX_FAILED_PROOFS_PER_CHALLENGE:
            stranger = Browser(client, ip="203.0.113.66")
            challenge = stranger.start_login(ALICE_ADDRESS)
            for _ in range(MAX_FAILED_PROOFS_PER_CHALLENGE + 1):
                prove(client, challenge, BOB_KEY)
            stranger_failed += MAX_FAILED_PROOFS_PER_CHALLENGE
        assert prove(client, stranger.start_login(ALICE_ADDRESS), ALICE_KEY).status_code == 429
        # when Alice asks for her own challenge, her proof logs her in at once.
        alice = Browser(client, ip="198.51.100.7")
        challenge = alice.start_login(ALICE_ADDRESS)
        assert prove(client, challenge, ALICE_KEY).status_code == 200
        assert alice.get(f"/auth/challenges/{challenge['id']}").json["status"] == "logged_in"

    def test_broker_down_at_login_answers_503_and_the_login_stays_usable(
        self, browser: Browser, client: falcon.testing.TestClient, sent: Sent
    ) -> None:
        challenge = browser.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        sent.down = True
        assert browser.get(f"/auth/challenges/{challenge['id']}").status_code == 503
        sent.down = False
        assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "logged_in"


class TestChallengeRateLimits:
    """Starting logins is limited per client IP (and per address from one IP), never per address."""

    def test_one_network_is_limited(self, browser: Browser) -> None:
        from tests.support.login import address_of

        addresses = [address_of(k) for k in (ALICE_KEY, BOB_KEY)]
        for i in range(MAX_CHALLENGES_PER_IP):
            browser.start_login(addresses[i % 2])
        result = browser.post_form(
            "/auth/challenges",
            {"address": "415:490:71ed:9131:49a8:d3b:b789:1fcd", "csrf_token": browser.csrf()},
        )
        assert (result.status_code, "from your network" in result.json["description"]) == (
            429,
            True,
        )

    def test_one_network_asking_for_one_address_is_limited(self, browser: Browser) -> None:
        for _ in range(MAX_CHALLENGES_PER_ADDRESS_AND_IP):
            browser.start_login(ALICE_ADDRESS)
        result = browser.post_form(
            "/auth/challenges", {"address": ALICE_ADDRESS, "csrf_token": browser.csrf()}
        )
        assert (result.status_code, "for this address" in result.json["description"]) == (
            429,
            True,
        )

    def test_strangers_asking_for_an_address_do_not_stop_its_owner(
        self, client: falcon.testing.TestClient
    ) -> None:
        for i in range(3 * MAX_CHALLENGES_PER_ADDRESS_AND_IP):
            Browser(client, ip=f"203.0.113.{i + 1}").start_login(ALICE_ADDRESS)
        assert Browser(client, ip="198.51.100.7").start_login(ALICE_ADDRESS)["id"]

    def test_the_limit_lifts_after_ten_minutes(self, browser: Browser, clock: Clock) -> None:
        for _ in range(MAX_CHALLENGES_PER_ADDRESS_AND_IP):
            browser.start_login(ALICE_ADDRESS)
        clock.advance(601)
        assert browser.start_login(ALICE_ADDRESS)["id"]


def test_secure_cookies_in_production(sqlite_db: str, clock: Clock, sent: Sent) -> None:
    client = falcon.testing.TestClient(make_app(clock, sent, secure=True))
    browser = Browser(client)
    browser.start_login(ALICE_ADDRESS)
    assert browser.last is not None and browser.last.cookies["hero_login"].secure
