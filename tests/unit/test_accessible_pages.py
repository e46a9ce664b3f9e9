"""Pages people can use with a keyboard and a screen reader: one h1, the current page
marked in the navigation, focus rings that show, commands that copy and never break
inside a word, and a 404 that keeps the navigation."""

from __future__ import annotations

import re
from pathlib import Path

import falcon.testing
import pytest

import gateway
from tests.support.web import HTML, Clock, Sent, account_of, entry, logged_in, make_app

CSS = (Path(gateway.__file__).parent / "static" / "style.css").read_text()
#: Page -> the navigation item marked current on it.
PAGES = {
    "/": "/",
    "/topup": "/topup",
    "/plans": "/plans",
    "/statement": "/statement",
    "/statement?group=day": "/statement",
    "/payments": "/payments",
}


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


def nav_of(html: str) -> str:
    match = re.search(r'<nav class="sections".*?</nav>', html, re.S)
    assert match, "no navigation"
    return match.group(0)


@pytest.mark.parametrize(("path", "current"), PAGES.items())
def test_each_page_has_one_h1_and_marks_its_nav_item(client, path: str, current: str) -> None:
    browser = logged_in(client)
    entry(account_of(), 2500, kind="payment", ref="p")
    page = browser.get(path, headers=HTML)
    assert page.status_code == 200
    assert len(re.findall(r"<h1[\s>]", page.text)) == 1
    marked = re.findall(r'<a href="([^"]+)" aria-current="page"', nav_of(page.text))
    assert marked == [current]


def test_the_404_page_keeps_the_navigation_of_the_logged_in_user(client) -> None:
    browser = logged_in(client)
    page = browser.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    nav = nav_of(page.text)
    assert all(f'href="{href}"' in nav for href in PAGES.values())
    assert 'id="viewer-address"' in page.text and 'id="logout"' in page.text
    assert len(re.findall(r"<h1[\s>]", page.text)) == 1


def test_the_404_page_of_a_visitor_has_no_account_navigation(client) -> None:
    page = client.simulate_get("/no/such/page", headers=HTML)
    assert page.status_code == 404 and 'class="sections"' not in page.text


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _colour(value: str) -> str:
    var = re.fullmatch(r"var\(--([\w-]+)\)", value.strip())
    if var:
        found = re.search(rf"--{var.group(1)}:\s*(#[0-9a-fA-F]{{6}})", CSS)
        assert found, value
        return found.group(1)
    return value.strip()


def test_every_focus_ring_is_at_least_3_to_1_against_page_and_cards() -> None:
    rings = re.findall(r":focus(?:-visible)?[^{]*\{[^}]*outline:\s*\d+px solid ([^;}]+)", CSS)
    assert rings, "no focus rings in the style sheet"
    for ring in rings:
        for background in (_colour("var(--bg)"), "#ffffff"):
            assert contrast(_colour(ring), background) >= 3, (ring, background)


def test_the_login_commands_have_copy_buttons_and_never_break_inside_a_word(client) -> None:
    browser = logged_in(client)  # a second login shows the waiting page
    challenge = browser.start_login("520:c662:fd00:9e92:5d99:34ed:ab8:82ab")
    page = browser.get(f"/auth/challenges/{challenge['id']}", headers=HTML)
    for command in ("message-command", "prove-command"):
        assert f'data-copy="{command}"' in page.text
    cmd_rules = " ".join(re.findall(r"pre\.cmd[^{]*\{([^}]*)\}", CSS))
    assert "break-all" not in cmd_rules and "break-word" not in cmd_rules
    assert "overflow-x: auto" in cmd_rules  # a long key scrolls in its box, not the page
    assert len(re.findall(r"<h1[\s>]", page.text)) == 1
