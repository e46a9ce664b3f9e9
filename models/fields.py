"""The timestamp column: aware UTC in Python, naive UTC in the database.

``UtcDateTimeField`` keeps the column type of peewee's ``DateTimeField`` (``DATETIME`` on
SQLite, ``TIMESTAMP`` on PostgreSQL), so no table changes; only what crosses the boundary
does. A value going in (a row, or the right side of a comparison with the column) is turned
into naive UTC: an aware time is converted from its offset, a naive one is taken to be UTC
already. A value coming out (PostgreSQL's naive ``datetime``, or SQLite's text with or without
an offset) is an aware UTC time (see ``wire.times``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee

from wire.times import as_utc


class UtcDateTimeField(peewee.DateTimeField):
    """A ``DateTimeField`` that Python sees in aware UTC and the database holds in naive UTC."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, str):
            value = _parse_stored(value)
        if isinstance(value, dt.datetime):
            return stored(value)
        return value

    def python_value(self, value: Any) -> Any:
        if isinstance(value, str):
            value = _parse_stored(value)
        if isinstance(value, dt.datetime):
            return as_utc(value)
        return value


def _parse_stored(text: str) -> dt.datetime | str:
    """SQLite's text of a time: ``2026-11-21 14:03:10[.ffffff][+hh:mm]``, a ``T`` or a ``Z``
    also read; a bare date is midnight. Text that is no time at all is handed back as it is."""
    stamp = text.strip()
    if stamp.endswith(("Z", "z")):
        stamp = stamp[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(stamp)
    except ValueError:
        return text


def stored(moment: dt.datetime) -> dt.datetime:
    """*moment* as a timestamp column holds it (naive UTC), for the raw SQL that bypasses
    ``UtcDateTimeField`` (bulk inserts, ``COPY``); a naive *moment* is taken to be UTC.

    >>> stored(dt.datetime(2026, 11, 21, 16, 3, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    datetime.datetime(2026, 11, 21, 14, 3)
    """
    return as_utc(moment).replace(tzinfo=None)
