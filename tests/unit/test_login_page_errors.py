"""Login problems stay on the login page: the address kept, the problem in plain words
beside the field, never an error card; the API keeps its JSON errors. And the 404 page
has a navigation for visitors as for logged-in users."""

from __future__ import annotations

import re

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from gateway.auth.challenges import MAX_CHALLENGES_PER_ADDRESS_AND_IP
from gateway.auth.proofs import MAX_FAILED_PROOFS_PER_CHALLENGE
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY
from tests.support.web import HTML, Browser, Clock, Sent, make_app, prove


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(sqlite_db: str, clock: Clock) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(clock, Sent()))


@pytest.fixture
def browser(client: falcon.testing.TestClient) -> Browser:
    return Browser(client)


def problem_on_login_page(page: falcon.testing.Result, address: str) -> str:
    """The problem beside the address field of the login page *page*, whose field holds
    *address*."""
    html = page.text
    assert "<h1>Log in with your Mycelium address</h1>" in html
    assert 'class="card error"' not in html and html.count("<h1") == 1
    field = re.search(r'<input id="address"[^>]*>', html, re.S)
    assert field and f'value="{escape(address)}"' in field.group(0)
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="address-error address-help"' in field.group(0)
    found = re.search(r'<p class="field-error" id="address-error" role="alert">(.*?)</p>', html)
    assert found, "no problem beside the field"
    return found.group(1)


def start(browser: Browser, address: str) -> falcon.testing.Result:
    form = {"address": address, "csrf_token": browser.csrf(), "next": "/plans"}
    return browser.post_form("/auth/challenges", form, headers=HTML)


def test_a_bad_address_stays_on_the_login_page_kept(browser: Browser) -> None:
    answer = start(browser, "520:c662:nope")
    assert answer.status_code == 400
    problem = problem_on_login_page(answer, "520:c662:nope")
    assert problem.startswith("Check the address:") and "not an IPv6 address" in problem
    assert 'name="next" value="/plans"' in answer.text


def test_an_empty_address_asks_for_one(browser: Browser) -> None:
    answer = start(browser, "")
    assert answer.status_code == 400
    assert problem_on_login_page(answer, "") == "Enter your Mycelium address."


def test_too_many_logins_stay_on_the_login_page_and_say_when(browser: Browser) -> None:
    for _ in range(MAX_CHALLENGES_PER_ADDRESS_AND_IP):
        assert start(browser, ALICE_ADDRESS).status_code == 303
    answer = start(browser, ALICE_ADDRESS)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert "for this address" in problem_on_login_page(answer, ALICE_ADDRESS)


def test_the_api_still_gets_json_errors(browser: Browser) -> None:
    answer = browser.post_form(
        "/auth/challenges", {"address": "nope", "csrf_token": browser.csrf()}
    )
    assert answer.status_code == 400 and answer.json["description"].startswith("address:")


def test_an_expired_code_goes_back_to_the_login_page(browser: Browser, clock: Clock) -> None:
    challenge = browser.start_login(ALICE_ADDRESS)
    clock.advance(300)
    answer = browser.get(f"/auth/challenges/{challenge['id']}", headers=HTML)
    assert answer.status_code == 200
    assert "expired" in problem_on_login_page(answer, ALICE_ADDRESS)
    assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "expired"


def test_a_refused_code_goes_back_to_the_login_page(
    browser: Browser, client: falcon.testing.TestClient
) -> None:
    challenge = browser.start_login(ALICE_ADDRESS)
    for _ in range(MAX_FAILED_PROOFS_PER_CHALLENGE):
        assert prove(client, challenge, BOB_KEY).status_code == 403
    answer = browser.get(f"/auth/challenges/{challenge['id']}", headers=HTML)
    assert "Too many wrong proofs" in problem_on_login_page(answer, ALICE_ADDRESS)


def test_a_used_code_goes_back_to_the_login_page_after_logout(
    browser: Browser, client: falcon.testing.TestClient
) -> None:
    challenge = browser.start_login(ALICE_ADDRESS)
    prove(client, challenge, ALICE_KEY)
    look = f"/auth/challenges/{challenge['id']}?next=/plans"
    assert browser.get(look, headers=HTML).headers["Location"] == "/plans"
    # a second look while logged in goes on; after logging out it says the code is spent
    assert browser.get(look, headers=HTML).headers["Location"] == "/plans"
    browser.post_form("/logout", {"csrf_token": browser.csrf()}, headers=HTML)
    answer = browser.get(look, headers=HTML)
    assert "already used" in problem_on_login_page(answer, ALICE_ADDRESS)


def test_a_code_of_another_browser_is_said_on_the_login_page(
    browser: Browser, client: falcon.testing.TestClient
) -> None:
    challenge = browser.start_login(ALICE_ADDRESS)
    other = Browser(client, ip="198.51.100.9")
    answer = other.get(f"/auth/challenges/{challenge['id']}", headers=HTML)
    assert answer.status_code == 404
    assert "waiting in this browser" in problem_on_login_page(answer, "")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(typed=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=80))
def test_any_address_is_a_login_or_the_login_page(client, typed: str) -> None:
    browser = Browser(client)
    answer = start(browser, typed)
    if answer.status_code == 303:
        assert answer.headers["Location"].startswith("/auth/challenges/ch_")
        return
    assert answer.status_code in (400, 429)
    problem_on_login_page(answer, typed.strip())


def test_the_404_page_of_a_visitor_has_a_navigation(client) -> None:
    page = client.simulate_get("/no/such/page", headers=HTML)
    assert page.status_code == 404 and page.text.count("<h1") == 1
    nav = re.search(r'<nav class="sections visitor" aria-label="Sections">.*?</nav>', page.text)
    assert nav and 'href="/login"' in nav.group(0)


def test_the_login_page_does_not_link_to_itself(client) -> None:
    page = client.simulate_get("/login", headers=HTML)
    assert 'id="nav-login"' not in page.text
