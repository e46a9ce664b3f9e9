"""The statement and its CSV through the gateway: every entry, cursor pages, filters."""

from __future__ import annotations

import csv
import datetime as dt
import io
from urllib.parse import urlencode

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.statement import BadFilter, parse_query
from models import Account
from tests.support.login import BOB_KEY
from tests.support.web import HTML, Clock, Sent, account_of, entry, logged_in, make_app

DAY = dt.datetime(2026, 11, 10, 9, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


def _history(account: Account) -> list[int]:
    """Five entries over five days (oldest first): ids in that order."""
    return [
        entry(
            account, 2500, kind="payment", ref="stripe:pi_1", at=DAY, details={"provider": "stripe"}
        ),
        entry(
            account,
            -1000,
            kind="plan_purchase",
            ref="plan:1",
            at=DAY + dt.timedelta(days=1),
            details={"plan_id": "5vms", "vms": 5},
        ),
        entry(
            account,
            -37,
            kind="usage",
            ref="usage:a",
            at=DAY + dt.timedelta(days=2),
            details={"records": 3},
        ),
        entry(
            account,
            100,
            ref="adj:1",
            at=DAY + dt.timedelta(days=3),
            details={"reason": '=HYPERLINK("http://evil")'},
        ),
        entry(
            account,
            -12,
            kind="usage",
            ref="usage:b",
            at=DAY + dt.timedelta(days=4),
            details={"records": 1},
        ),
    ]


def test_the_statement_lists_every_entry_newest_first_with_the_balance_after(client) -> None:
    alice = logged_in(client)
    ids = _history(account_of())
    body = alice.get("/statement").json
    assert [e["id"] for e in body["entries"]] == ids[::-1]
    assert [e["balance_after_cents"] for e in body["entries"]] == [1551, 1563, 1463, 1500, 2500]
    assert body["entries"][-1]["at"] == "2026-11-10T09:30:15Z"
    assert body["next_cursor"] is None
    page = alice.get("/statement", headers=HTML)
    assert page.status_code == 200 and page.text.count('<tr class="kind-') == 5
    assert "10 Nov 2026, 09:30 UTC" in page.text and "$15.51" in page.text
    assert "123456" not in page.text


def test_statement_pages_follow_the_cursor_without_repeats_or_gaps(client) -> None:
    alice = logged_in(client)
    account = account_of()
    ids = [entry(account, 1, ref=f"adj:{i}") for i in range(120)]
    seen: list[int] = []
    url: str | None = "/statement"
    while url:
        body = alice.get(url).json
        seen.extend(e["id"] for e in body["entries"])
        if len(seen) == 50:  # an entry written between two pages shows on none of the old ones
            entry(account, 1, ref="adj:late")
        url = body["next"]
    assert seen == ids[::-1]


def test_the_statement_filters_by_date_range_and_kind(client) -> None:
    alice = logged_in(client)
    ids = _history(account_of())
    by_kind = alice.get("/statement?kind=usage").json["entries"]
    assert [e["id"] for e in by_kind] == [ids[4], ids[2]]
    both = alice.get("/statement?kind=usage&kind=payment").json["entries"]
    assert [e["id"] for e in both] == [ids[4], ids[2], ids[0]]
    ranged = alice.get("/statement?from=2026-11-11&to=2026-11-13").json["entries"]
    assert [e["id"] for e in ranged] == [ids[3], ids[2], ids[1]]
    mixed = alice.get("/statement?from=2026-11-11&to=2026-11-13&kind=usage").json["entries"]
    assert [e["id"] for e in mixed] == [ids[2]]


def test_a_filtered_page_links_to_its_csv_and_next_page_with_the_same_filter(client) -> None:
    alice = logged_in(client)
    account = account_of()
    for i in range(55):
        entry(account, -1, kind="usage", ref=f"usage:{i}", details={"records": 1})
    page = alice.get("/statement?kind=usage&from=2026-01-01", headers=HTML)
    assert 'href="/statement.csv?from=2026-01-01&amp;kind=usage"' in page.text
    assert "kind=usage" in page.text.split('id="next-page"')[0].rsplit("href=", 1)[1]
    assert 'value="usage" checked' in page.text


@pytest.mark.parametrize(
    "query, field, words",
    [
        ({"from": "21/11/2026"}, "from", "YYYY-MM-DD"),
        ({"to": "2026-02-30"}, "to", "YYYY-MM-DD"),
        ({"from": "2026-11-12", "to": "2026-11-11"}, "to", "on or after"),
        ({"from": "1999-12-31"}, "from", "between"),
        ({"kind": "salary"}, "kind", "not one of"),
        ({"cursor": "-3"}, "cursor", "not a page"),
        ({"cursor": "99999999999999999999"}, "cursor", "not a page"),
    ],
)
def test_a_bad_filter_names_the_field_and_keeps_the_values(
    client, query: dict[str, str], field: str, words: str
) -> None:
    alice = logged_in(client)
    answer = alice.get("/statement?" + urlencode(query))
    assert answer.status_code == 400
    assert (
        answer.json["description"].startswith(f"{field}: ") and words in answer.json["description"]
    )
    page = alice.get("/statement?" + urlencode(query), headers=HTML)
    assert page.status_code == 400 and "<h1>Statement</h1>" in page.text
    assert f'id="{field}-error"' in page.text and words in page.text
    for value in query.values():
        if field not in ("cursor", "kind"):
            assert f'value="{value}"' in page.text
    assert alice.get("/statement.csv?" + urlencode(query)).status_code == 400


def test_the_csv_has_the_same_rows_and_filter_in_dollars_cents_and_utc(client) -> None:
    alice = logged_in(client)
    ids = _history(account_of())
    answer = alice.get("/statement.csv?from=2026-11-11")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert 'filename="hero-statement-from-2026-11-11.csv"' in answer.headers["Content-Disposition"]
    assert answer.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [int(r["entry_id"]) for r in rows] == ids[:0:-1]
    plan = rows[-1]
    assert (plan["time_utc"], plan["kind"]) == ("2026-11-11T09:30:15Z", "plan_purchase")
    assert (plan["amount_usd"], plan["amount_cents"]) == ("-10.00", "-1000")
    assert (plan["balance_after_usd"], plan["balance_after_cents"]) == ("15.00", "1500")
    adjustment = rows[1]
    assert adjustment["description"].startswith("Adjustment by support")
    assert all(not r["description"].startswith("=") for r in rows)


def test_the_csv_of_a_formula_reason_is_text_to_a_spreadsheet(client) -> None:
    alice = logged_in(client)
    entry(account_of(), 5, ref="=cmd|' /C calc'!A0", details={"reason": "x"})
    row = next(csv.DictReader(io.StringIO(alice.get("/statement.csv").text)))
    assert row["reference"] == "'=cmd|' /C calc'!A0"


def test_another_accounts_entries_never_show(client) -> None:
    _history(account_of())
    bob = logged_in(client, BOB_KEY)
    assert bob.get("/statement").json["entries"] == []
    assert bob.get("/statement.csv").text.count("\n") == 1


def test_the_dashboard_links_to_the_statement(client) -> None:
    alice = logged_in(client)
    _history(account_of())
    assert 'href="/statement"' in alice.get("/", headers=HTML).text


@pytest.mark.parametrize("path", ["/statement", "/statement.csv"])
def test_statement_pages_send_visitors_to_the_login(client, path: str) -> None:
    page = client.simulate_get(path, headers=HTML)
    assert page.status_code == 303 and page.headers["Location"].startswith("/login?next=")


def test_parse_query_takes_each_kind_once() -> None:
    query = parse_query(start=" ", end=None, kinds=["usage", "usage", ""], cursor=None)
    assert query.kinds == ("usage",) and query.start is None


_TEXT = st.text(max_size=30) | st.sampled_from(["2026-11-11", "usage", "12", "9998-12-31"])


@given(start=_TEXT, end=_TEXT, kind=_TEXT, cursor=_TEXT)
def test_parse_query_accepts_or_names_the_field(
    start: str, end: str, kind: str, cursor: str
) -> None:
    try:
        parse_query(start=start, end=end, kinds=[kind], cursor=cursor)
    except BadFilter as exc:
        assert exc.field in ("from", "to", "kind", "cursor")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.lists(
        st.tuples(st.sampled_from(["from", "to", "kind", "cursor", "x"]), _TEXT), max_size=5
    ),
    path=st.sampled_from(["/statement", "/statement.csv"]),
    html=st.booleans(),
)
def test_any_query_string_is_a_page_or_a_named_400(client, params, path, html) -> None:
    if not hasattr(client, "_alice"):
        client._alice = logged_in(client)
    answer = client._alice.get(f"{path}?{urlencode(params)}", headers=HTML if html else None)
    assert answer.status_code in (200, 400), answer.text[:300]
