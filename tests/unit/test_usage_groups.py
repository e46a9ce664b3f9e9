"""The statement grouped by resource and by day, and what the discount saved."""

from __future__ import annotations

import datetime as dt
from typing import Any

import falcon.testing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.usage import apply_batch
from gateway.statement import BadFilter
from gateway.usage_groups import GROUPS, discount_savings, parse_group, usage_groups
from models import Billing
from tests.support.login import ALICE_ADDRESS, BOB_KEY
from tests.support.web import HTML, Clock, Sent, account_of, logged_in, make_app
from wire.times import utcnow

NOW = utcnow().replace(microsecond=0)
#: Early in this month, or the month's first day when it is early.
IN_MONTH = max(NOW - dt.timedelta(hours=2), NOW.replace(day=1, hour=0, minute=5, second=0))


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


def record(key: str, kind: str, applies_to: str, qty: int, cents: int, at: dt.datetime) -> Any:
    return {
        "key": key,
        "node": "node-a",
        "user": ALICE_ADDRESS,
        "resource_kind": kind,
        "applies_to": applies_to,
        "quantity": qty,
        "amount_cents": cents,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def usage() -> None:
    """Month tier (x0.25 on LLM and Hero OS, x1 on VMs): three LLM records over two days,
    one this month and two 40 days ago; one VM hour this month."""
    account = account_of()
    Billing.update(first_paid_at=NOW - dt.timedelta(days=400)).where(
        Billing.account == account
    ).execute()
    old = NOW - dt.timedelta(days=40)
    apply_batch(
        [
            record("node-a:1", "llm_token", "llm", 1000, 7, old),
            record("node-a:2", "llm_token", "llm", 500, 1, old),
            record("node-a:3", "llm_token", "llm", 200, 4, IN_MONTH),
            record("node-a:4", "vm_hour", "vm", 1, 3, IN_MONTH),
        ],
        via="git",
        now=NOW,
    )


def test_usage_by_resource_sums_quantity_list_price_discount_and_exact_charge(client) -> None:
    alice = logged_in(client)
    usage()
    page = alice.get("/statement?group=resource", headers=HTML)
    assert page.status_code == 200 and 'id="usage-groups"' in page.text
    rows = page.text.split("<tbody>")[-1].split("</tbody>")[0].split("</tr>")
    llm = next(r for r in rows if 'data-group="llm_token"' in r)
    for text in ("LLM tokens", ">3<", "1,700", "$0.12", "$0.09", "$0.03"):
        assert text in llm, text  # 12 cents listed, x0.25: 3 cents charged, 9 saved
    vm = next(r for r in rows if 'data-group="vm_hour"' in r)
    assert "$0.03" in vm and "$0.00" in vm  # x1: nothing saved
    json_groups = alice.get("/statement?group=resource").json["groups"]
    assert {g["key"]: g["charge_quarter_cents"] for g in json_groups} == {
        "llm_token": 12,
        "vm_hour": 12,
    }


def test_usage_by_day_is_newest_first_and_keeps_the_date_filter(client) -> None:
    alice = logged_in(client)
    usage()
    days = [g["key"] for g in alice.get("/statement?group=day").json["groups"]]
    assert days == [IN_MONTH.date().isoformat(), (NOW - dt.timedelta(days=40)).date().isoformat()]
    since = IN_MONTH.date().isoformat()
    only = alice.get(f"/statement?group=day&from={since}").json["groups"]
    assert [g["key"] for g in only] == [since] and only[0]["records"] == 2


def test_another_account_sees_none_of_the_groups(client) -> None:
    usage()
    bob = logged_in(client, BOB_KEY)
    assert bob.get("/statement?group=resource").json["groups"] == []
    assert bob.get("/statement?group=day").json["groups"] == []


def test_a_bad_group_comes_back_on_the_statement_naming_the_field(client) -> None:
    alice = logged_in(client)
    page = alice.get("/statement?group=nodes", headers=HTML)
    assert page.status_code == 400 and 'id="group-error"' in page.text
    assert alice.get("/statement?group=nodes").json["description"].startswith("group: ")


def test_the_dashboard_says_what_the_discount_saved_this_month_and_in_total(client) -> None:
    alice = logged_in(client)
    usage()
    saved = discount_savings(int(account_of().id), now=NOW)
    # list 12 + 3 cents; charged: LLM 3 cents (x0.25), VM 3 cents (x1)
    assert saved.total_quarters == (12 - 3) * 4 and saved.month_quarters == 3 * 4
    page = alice.get("/", headers=HTML).text
    assert "Saved $0.03 this month, $0.09 in total" in page


@given(st.text(max_size=20))
def test_parse_group_takes_the_three_names_and_names_the_field_otherwise(text: str) -> None:
    try:
        assert parse_group(text) in GROUPS
    except BadFilter as exc:
        assert exc.field == "group"


def test_no_account_has_no_groups(sqlite_db: str) -> None:
    assert usage_groups("41f:9a01:3c22:7e10:aa55:1234:5678:9abc", by="day") == []
