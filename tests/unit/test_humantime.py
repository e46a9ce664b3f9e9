"""Times as people read them, on the pages and in the helpers."""

from __future__ import annotations

import datetime as dt
import doctest
import re

import falcon.testing

import gateway.humantime
from gateway.humantime import human_time, relative
from tests.support.web import HTML, Clock, Sent, account_of, entry, logged_in, make_app

#: Raw ISO 8601 with a time, as a page must never show it outside an attribute.
RAW_ISO = re.compile(r">[^<]*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")


def test_the_helpers_examples_hold() -> None:
    assert doctest.testmod(gateway.humantime).failed == 0


def test_an_aware_time_is_shown_in_utc() -> None:
    tz = dt.timezone(dt.timedelta(hours=3))
    assert human_time(dt.datetime(2026, 12, 30, 13, 1, tzinfo=tz)) == "30 Dec 2026, 10:01 UTC"


def test_relative_times_use_the_largest_whole_unit() -> None:
    now = dt.datetime(2026, 1, 1)
    assert relative(now + dt.timedelta(minutes=1), now) == "in 1 minute"
    assert relative(now - dt.timedelta(days=1, hours=5), now) == "1 day ago"


def test_the_dashboard_and_statement_show_no_raw_iso_or_microseconds(sqlite_db: str) -> None:
    client = falcon.testing.TestClient(make_app(Clock(), Sent()))
    alice = logged_in(client)
    entry(
        account_of(),
        500,
        ref="adj:t",
        at=dt.datetime(2026, 12, 30, 10, 1, 2, 345678),
        details={"reason": "x"},
    )
    for path in ("/", "/statement"):
        page = alice.get(path, headers=HTML).text
        assert "30 Dec 2026, 10:01 UTC" in page, path
        assert "345678" not in page and not RAW_ISO.search(page), path
