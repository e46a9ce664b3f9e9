"""Where a login sends the browser: ``next`` is a path of this site, or the dashboard.

Browsers drop tabs and newlines from a URL and read ``\\`` as ``/``, so a ``Location``
is judged here the way a browser would resolve it against the site's own URL.
"""

from __future__ import annotations

from urllib.parse import urlencode, urljoin, urlsplit

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.auth.middleware import DEFAULT_NEXT, safe_next
from tests.support.login import ALICE_ADDRESS, ALICE_KEY
from tests.support.web import HTML, PUBLIC_URL, Browser, Clock, Sent, make_app, prove

#: Values that took browsers to another site, or gave a 500, before.
HOSTILE = [
    "/%09/evil.example",
    "/\t/evil.example",
    "/%0A/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/%0d%0aSet-Cookie:x=1",
    "/\\evil.example",
    "/%5Cevil.example",
    "//evil.example",
    "/%2F/evil.example",
    "/%252F%252Fevil.example",
    "https://evil.example",
    "/ /evil.example",
    "/\u2028/evil.example",
    "/\u00e9t\u00e9",
    "/\U0001f600",
    "/\x00",
    "",
]

#: Characters that make up hostile ``next`` values.
next_text = (
    st.lists(
        st.sampled_from(list("/\\%:.@?#&=ae09 \t\n\r\x00\x7f\u2028\u00e9\U0001f600"))
        | st.sampled_from(["%09", "%0a", "%2f", "%5c", "%25", "//", "http:", "evil.example"])
        | st.text(max_size=3),
        max_size=12,
    )
    .map("".join)
    .map(lambda s: s if s.startswith(("/", "h")) else "/" + s)
)


def browser_resolves(location: str) -> str:
    """The host a browser goes to for *location*, seen from a page of this site."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    return urlsplit(urljoin(PUBLIC_URL + "/login", cleaned)).netloc


def assert_stays_here(result: falcon.testing.Result) -> None:
    assert result.status_code < 500, result.text
    location = result.headers.get("Location")
    if location is not None:
        assert browser_resolves(location) == urlsplit(PUBLIC_URL).netloc, location


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


@pytest.mark.parametrize("target", HOSTILE)
def test_a_hostile_next_falls_back_to_the_dashboard(target: str) -> None:
    assert safe_next(target) == DEFAULT_NEXT


@pytest.mark.parametrize(
    "target", ["/topup", "/topups/HERO1?x=1", "/payments?page=2&kind=usage", "/plans#vms"]
)
def test_a_path_of_this_site_is_kept(target: str) -> None:
    assert safe_next(target) == target


@given(target=next_text)
def test_safe_next_never_leaves_the_site(target: str) -> None:
    kept = safe_next(target)
    assert kept in (target, DEFAULT_NEXT)
    assert browser_resolves(kept) == urlsplit(PUBLIC_URL).netloc


class TestLoggedInBrowser:
    """``GET /login?next=...`` sends a logged-in browser on, never to another site."""

    @pytest.mark.parametrize("target", HOSTILE)
    def test_a_hostile_next_goes_to_the_dashboard(self, alice: Browser, target: str) -> None:
        result = alice.request("GET", "/login", query_string=urlencode({"next": target}))
        assert (result.status_code, result.headers["Location"]) == (303, DEFAULT_NEXT)

    @settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(target=next_text)
    def test_no_next_leaves_the_site_or_fails(self, alice: Browser, target: str) -> None:
        result = alice.request(
            "GET", "/login", query_string=urlencode({"next": target}), headers=HTML
        )
        assert_stays_here(result)


class TestBrowserLoggingIn:
    """The login form's ``next`` survives to the session start only as a path of this site."""

    @settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(target=st.one_of(st.sampled_from(HOSTILE), next_text))
    def test_no_next_leaves_the_site_or_fails(
        self, client: falcon.testing.TestClient, clock: Clock, target: str
    ) -> None:
        clock.advance(601)  # a fresh rate-limit window for every example
        browser = Browser(client)
        form = {"address": ALICE_ADDRESS, "csrf_token": browser.csrf(), "next": target}
        started = browser.post_form("/auth/challenges", form, headers=HTML)
        assert_stays_here(started)
        if started.status_code == 400:  # a field the form reader refuses (NUL): said, no 500
            return
        challenge_path = started.headers["Location"]
        challenge_id = urlsplit(challenge_path).path.rsplit("/", 1)[1]
        prove(client, {"id": challenge_id, "code": _code_of(challenge_id)}, ALICE_KEY)
        # The page polls with the next it was given; a tampered one is judged again.
        for query in (urlsplit(challenge_path).query, urlencode({"next": target})):
            landed = browser.request(
                "GET", f"/auth/challenges/{challenge_id}", query_string=query, headers=HTML
            )
            assert_stays_here(landed)
        assert landed.status_code in (200, 303)


def _code_of(challenge_id: str) -> str:
    from models import LoginChallenge

    return str(LoginChallenge.get(LoginChallenge.public_id == challenge_id).code)
