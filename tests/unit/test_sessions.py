"""Sessions, CSRF, logout and the pages around login, in-process."""

from __future__ import annotations

import datetime as dt

import falcon.testing
import pytest

from gateway.auth.middleware import safe_next
from gateway.auth.sessions import end_session, load_session, start_session
from models import Account, Session
from tests.support.login import ALICE_ADDRESS, ALICE_KEY
from tests.support.web import HTML, JSON, Browser, Clock, Sent, make_app, prove

NOW = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(sqlite_db: str, clock: Clock) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(clock, Sent()))


@pytest.fixture
def alice(client: falcon.testing.TestClient) -> Browser:
    """A browser logged in as Alice through the key proof."""
    browser = Browser(client)
    challenge = browser.start_login(ALICE_ADDRESS)
    prove(client, challenge, ALICE_KEY)
    assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "logged_in"
    return browser


class TestSessionRows:
    """A session row holds the token's hash; loading needs the token, a live row and time left."""

    def test_a_started_session_loads_by_its_token(self, sqlite_db: str) -> None:
        token, session = start_session(ALICE_ADDRESS, ttl_s=60, now=NOW)
        assert load_session(token, now=NOW) == session

    def test_the_row_does_not_hold_the_token(self, sqlite_db: str) -> None:
        token, _ = start_session(ALICE_ADDRESS, ttl_s=60, now=NOW)
        assert token not in Session.get().token_hash

    def test_an_expired_session_does_not_load(self, sqlite_db: str) -> None:
        token, _ = start_session(ALICE_ADDRESS, ttl_s=60, now=NOW)
        assert load_session(token, now=NOW + dt.timedelta(seconds=60)) is None

    def test_an_ended_session_does_not_load(self, sqlite_db: str) -> None:
        token, session = start_session(ALICE_ADDRESS, ttl_s=60, now=NOW)
        end_session(session.id, now=NOW)
        assert load_session(token, now=NOW) is None

    @pytest.mark.parametrize("token", ["", "x", "y" * 500])
    def test_an_unknown_token_does_not_load(self, sqlite_db: str, token: str) -> None:
        assert load_session(token, now=NOW) is None

    def test_each_session_has_its_own_csrf_token(self, sqlite_db: str) -> None:
        tokens = {start_session(ALICE_ADDRESS, ttl_s=60, now=NOW)[1].csrf_token for _ in range(3)}
        assert len(tokens) == 3


class TestRequireLogin:
    """Pages send a visitor to /login; the API answers 401 JSON."""

    def test_a_page_redirects_to_login_with_next(self, client: falcon.testing.TestClient) -> None:
        result = client.simulate_get("/topup", headers=HTML)
        assert (result.status_code, result.headers["Location"]) == (303, "/login?next=%2Ftopup")

    def test_the_api_answers_401_json(self, client: falcon.testing.TestClient) -> None:
        result = client.simulate_get("/auth/session", headers=JSON)
        assert (result.status_code, result.json["title"]) == (401, "Log in first")

    def test_a_logged_in_browser_gets_its_session(self, alice: Browser) -> None:
        assert alice.get("/auth/session").json["address"] == ALICE_ADDRESS

    def test_an_expired_session_is_logged_out(self, alice: Browser, clock: Clock) -> None:
        clock.advance(7 * 24 * 3600)
        assert alice.get("/auth/session").status_code == 401


class TestCsrf:
    """Every state-changing form needs the token; webhooks and key proofs are exempt."""

    def test_a_post_without_the_token_is_refused(self, alice: Browser) -> None:
        result = alice.post_form("/topup", {"provider": "sandbox", "amount": "5"})
        assert result.status_code == 403

    def test_the_refusal_says_what_to_do(self, alice: Browser) -> None:
        result = alice.post_form("/topup", {"amount": "5"}, headers=HTML)
        assert "Reload the page and try again" in result.text

    def test_a_wrong_token_is_refused(self, alice: Browser) -> None:
        result = alice.post_form("/logout", {"csrf_token": "not-the-token"})
        assert result.status_code == 403

    def test_another_sessions_token_is_refused(
        self, alice: Browser, client: falcon.testing.TestClient
    ) -> None:
        token, other = start_session(ALICE_ADDRESS, ttl_s=60, now=NOW)
        result = alice.post_form("/logout", {"csrf_token": other.csrf_token})
        assert result.status_code == 403

    def test_the_pre_login_cookie_does_not_pass_for_a_session(self, alice: Browser) -> None:
        alice.cookies["hero_csrf"] = "known-to-the-attacker"
        result = alice.post_form("/logout", {"csrf_token": "known-to-the-attacker"})
        assert result.status_code == 403

    def test_the_header_carries_the_token_too(self, alice: Browser) -> None:
        token = alice.csrf()
        result = alice.request("POST", "/logout", headers={**JSON, "X-CSRF-Token": token})
        assert result.status_code == 200

    def test_a_login_form_without_the_cookie_is_refused(
        self, client: falcon.testing.TestClient
    ) -> None:
        browser = Browser(client)
        result = browser.post_form(
            "/auth/challenges", {"address": ALICE_ADDRESS, "csrf_token": "guessed"}
        )
        assert result.status_code == 403

    def test_the_key_proof_needs_no_token(self, client: falcon.testing.TestClient) -> None:
        browser = Browser(client)
        challenge = browser.start_login(ALICE_ADDRESS)
        assert prove(client, challenge, ALICE_KEY).status_code == 200


class TestLogout:
    """``POST /logout`` ends the session on the server, not only the cookie."""

    def test_logout_ends_the_session_row(self, alice: Browser) -> None:
        alice.post_form("/logout", {"csrf_token": alice.csrf()})
        assert Session.get().ended_at is not None

    def test_the_old_cookie_no_longer_logs_in(self, alice: Browser) -> None:
        token = alice.cookies["hero_session"]
        alice.post_form("/logout", {"csrf_token": alice.csrf()})
        alice.cookies["hero_session"] = token
        assert alice.get("/auth/session").status_code == 401

    def test_logout_from_a_page_goes_to_login(self, alice: Browser) -> None:
        result = alice.post_form("/logout", {"csrf_token": alice.csrf()}, headers=HTML)
        assert (result.status_code, result.headers["Location"]) == (303, "/login")

    def test_a_new_login_ends_the_browsers_previous_session(
        self, alice: Browser, client: falcon.testing.TestClient
    ) -> None:
        challenge = alice.start_login(ALICE_ADDRESS)
        prove(client, challenge, ALICE_KEY)
        alice.get(f"/auth/challenges/{challenge['id']}")
        assert [s.ended_at is None for s in Session.select().order_by(Session.id)] == [False, True]


class TestPages:
    """The login page, the home page and the logged-in header."""

    def test_the_login_page_has_the_csrf_field(self, client: falcon.testing.TestClient) -> None:
        browser = Browser(client)
        page = browser.get("/login", headers=HTML).text
        assert f'name="csrf_token" value="{browser.cookies["hero_csrf"]}"' in page

    def test_the_login_page_names_both_key_files_people_have(
        self, client: falcon.testing.TestClient
    ) -> None:
        page = Browser(client).get("/login", headers=HTML).text
        assert "priv_key.bin" in page and "/var/lib/mycelium/key.bin" in page

    def test_the_login_page_sends_a_logged_in_browser_on(self, alice: Browser) -> None:
        result = alice.get("/login?next=/topup", headers=HTML)
        assert (result.status_code, result.headers["Location"]) == (303, "/topup")

    def test_home_says_the_account_is_being_set_up(self, alice: Browser) -> None:
        page = alice.get("/", headers=HTML).text
        assert "Setting up your account" in page

    def test_home_shows_the_balance_once_the_account_exists(self, alice: Browser) -> None:
        Account.create(address=ALICE_ADDRESS)
        page = alice.get("/", headers=HTML).text
        assert 'id="balance"' in page

    def test_the_header_shows_the_address_and_a_logout_form(self, alice: Browser) -> None:
        page = alice.get("/", headers=HTML).text
        assert f'<code class="addr" id="viewer-address">{ALICE_ADDRESS}</code>' in page
        assert f'name="csrf_token" value="{alice.csrf()}"' in page

    def test_the_topup_page_says_the_account_is_being_set_up(self, alice: Browser) -> None:
        assert "Setting up your account" in alice.get("/topup", headers=HTML).text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/topup", "/topup"),
        ("/topups/HERO1?x=1", "/topups/HERO1?x=1"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_next_is_always_a_local_path(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_the_client_ip_is_remote_addr_whatever_the_headers_say() -> None:
    """Proxies are resolved before the app (``gateway.proxies``, tested through waitress)."""
    import nacl.public

    from gateway.auth.options import LoginOptions

    headers = {"X-Forwarded-For": "198.51.100.1", "Forwarded": "for=192.0.2.9"}
    req = falcon.testing.create_req(remote_addr="203.0.113.5", headers=headers)
    key = nacl.public.PrivateKey(bytes(32))
    assert LoginOptions(service_key=key).client_ip(req) == "203.0.113.5"
