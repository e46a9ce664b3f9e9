"""Pages that wait for something look again through a control a person can pause, never
through ``<meta http-equiv="refresh">`` (WCAG 2.2.1); without scripts a plain link does it."""

from __future__ import annotations

import re
import uuid
from importlib.resources import files

import falcon.testing
import pytest

from tests.support.web import HTML, Clock, Sent, logged_in, make_app

TEMPLATES = files("gateway") / "templates"
SCRIPT = files("gateway") / "static" / "refresh.js"


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


def test_no_template_refreshes_through_a_meta_tag() -> None:
    offenders = [
        t.name
        for t in TEMPLATES.iterdir()
        if t.name.endswith(".html")
        and re.search(r"http-equiv\s*=\s*\"?refresh", t.read_text(), re.I)
    ]
    assert offenders == []


def test_a_waiting_page_offers_the_next_look_as_a_link_and_pauses_in_its_script(
    client,
) -> None:
    alice = logged_in(client)
    request_id = uuid.uuid4().hex
    page = alice.get(f"/requests/{request_id}", headers=HTML).text
    box = re.search(r'<p class="refresher".*?</p>', page, re.S)
    assert box is not None, page
    assert f'data-refresh-url="/requests/{request_id}?waited=1"' in box.group(0)
    assert f'<a href="/requests/{request_id}?waited=1"' in box.group(0)  # without scripts
    assert ">Check now</a>" in box.group(0)
    assert 'id="refresher-pause" hidden>Pause</button>' in box.group(0)  # shown by the script
    assert '<script src="/static/refresh.js" defer></script>' in page


def test_the_script_is_served_from_the_gateway_and_allowed_by_its_policy(client) -> None:
    script = client.simulate_get("/static/refresh.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.content == SCRIPT.read_bytes()
    page = client.simulate_get("/login", headers=HTML)
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src" not in policy


def test_the_script_counts_down_pauses_and_goes_to_the_next_address() -> None:
    source = SCRIPT.read_text()
    for piece in ('"Checking again in "', '"Pause"', '"Resume"', "window.location.assign(url)"):
        assert piece in source
    assert "location.reload" not in source  # a reload could send a form again
