"""The dashboard's low-balance warning, runway and threshold form, through the gateway."""

from __future__ import annotations

import re

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.low_balance import set_low_balance
from gateway.runway import THRESHOLD_HINT, parse_threshold
from models.accounts import MAX_LOW_BALANCE_CENTS
from tests.support.login import ALICE_KEY, address_of
from tests.support.web import HTML, Clock, Sent, account_of, entry, logged_in, make_app


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(sqlite_db: str, sent: Sent) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), sent))


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_dashboard_warns_before_zero_with_the_runway(client) -> None:
    browser = logged_in(client)
    account = account_of()
    entry(account, 1500, kind="payment", ref="p")
    entry(account, -700, kind="usage", ref="u1", details={"records": 1})
    entry(account, -400, kind="usage", ref="u2", details={"records": 1})  # $4.00 left

    page = browser.get("/", headers=HTML)

    assert page.status_code == 200
    assert 'id="credit-low"' in page.text  # the banner: under $5.00, above zero
    said = text_of(page.text)
    assert "At your last 7 days' rate ($1.57 a day), your credit lasts about 2 days." in said
    assert 'value="5.00"' in page.text


def test_a_threshold_set_by_the_user_moves_the_warning(client, sent: Sent) -> None:
    browser = logged_in(client)
    account = account_of()
    entry(account, 2000, kind="payment", ref="p")
    assert 'id="credit-low"' not in browser.get("/", headers=HTML).text

    result = browser.post_form(
        "/account/low-balance", {"threshold": "$25.00", "csrf_token": browser.csrf()}, HTML
    )

    assert result.status_code == 303 and result.headers["location"].startswith("/?low_balance=")
    actor, kwargs = sent.calls[-1]
    assert (actor, kwargs) == (
        "set_low_balance",
        {"address": address_of(ALICE_KEY), "low_balance_cents": 2500},
    )
    set_low_balance(**kwargs)  # what the worker does with the message
    page = browser.get("/?low_balance=saved", headers=HTML)
    assert 'id="credit-low"' in page.text and 'value="25.00"' in page.text
    assert browser.get("/").json["low_balance_cents"] == 2500


@pytest.mark.parametrize("raw", ["", "abc", "-1", "1000.01", "5.001", "1e3", "5,00"])
def test_a_bad_threshold_comes_back_on_the_page_kept_with_the_problem_next_to_it(
    client, sent: Sent, raw: str
) -> None:
    browser = logged_in(client)
    entry(account_of(), 2000, kind="payment", ref="p")

    result = browser.post_form(
        "/account/low-balance", {"threshold": raw, "csrf_token": browser.csrf()}, HTML
    )

    assert result.status_code == 400
    assert 'id="balance"' in result.text  # the dashboard itself
    assert 'id="threshold-error"' in result.text and THRESHOLD_HINT in result.text
    assert 'aria-invalid="true"' in result.text
    kept = re.search(r'id="threshold"[^>]*value="([^"]*)"', result.text, re.S)
    assert kept is not None and kept.group(1) == raw
    assert [c for c, _ in sent.calls if c == "set_low_balance"] == []


def test_a_bad_threshold_over_json_is_a_400_naming_the_field(client, sent: Sent) -> None:
    browser = logged_in(client)
    result = browser.post_form(
        "/account/low-balance", {"threshold": "lots", "csrf_token": browser.csrf()}
    )
    assert result.status_code == 400
    assert result.json["description"].startswith("threshold: Enter an amount between")


def test_the_threshold_form_needs_a_login(client) -> None:
    result = client.simulate_post("/account/low-balance", headers=HTML)
    assert result.status_code in (303, 403)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(raw=st.text(max_size=40))
def test_parse_threshold_takes_amounts_in_bounds_and_says_why_otherwise(raw: str) -> None:
    try:
        cents = parse_threshold(raw)
    except ValueError as exc:
        assert str(exc).startswith(THRESHOLD_HINT)
    else:
        assert 0 <= cents <= MAX_LOW_BALANCE_CENTS
