"""One time convention: aware UTC in Python, naive UTC as stored, one ISO form with a Z."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from gateway.humantime import iso_utc
from gateway.resources.auth import iso
from node_agent import service
from wire import times
from wire.rules import format_time

OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
MOMENTS = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9998, 1, 1))


@given(MOMENTS, OFFSETS)
def test_every_iso_form_is_the_one_form(naive: dt.datetime, zone: dt.timezone) -> None:
    aware = naive.replace(tzinfo=zone)
    stored = aware.astimezone(dt.UTC).replace(tzinfo=None)  # as a column holds it
    expected = times.iso_z(aware)
    assert expected.endswith("Z") and len(expected) == 20
    for form in (iso_utc, iso, format_time, times.iso_z):
        assert form(aware) == form(stored) == expected


@given(MOMENTS)
def test_a_stored_time_is_read_as_utc(naive: dt.datetime) -> None:
    assert times.as_utc(naive) == naive.replace(tzinfo=dt.UTC)


def test_the_node_agent_and_the_server_share_one_aware_clock() -> None:
    assert service.utcnow is times.utcnow
    assert times.utcnow().tzinfo is dt.UTC
