"""The one time convention: aware UTC in Python, naive UTC in the database, ISO with a Z on
the wire and in every machine-readable output.

Timestamp columns (peewee ``DateTimeField``) store naive UTC, because SQLite stores the
text without an offset; ``as_utc`` is how a stored value becomes an aware one, and a naive
value anywhere is read as UTC, never as the machine's local time.
"""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """*moment* as an aware UTC time; a naive one (as stored) is taken to be UTC already.

    >>> as_utc(dt.datetime(2026, 11, 21, 14, 3))
    datetime.datetime(2026, 11, 21, 14, 3, tzinfo=datetime.timezone.utc)
    >>> as_utc(dt.datetime(2026, 11, 21, 16, 3, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    datetime.datetime(2026, 11, 21, 14, 3, tzinfo=datetime.timezone.utc)
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def iso_z(moment: dt.datetime) -> str:
    """RFC 3339 UTC with a ``Z``, to the second, the year always four digits.

    >>> iso_z(dt.datetime(2026, 11, 21, 14, 3, 10, 999999, tzinfo=dt.UTC))
    '2026-11-21T14:03:10Z'
    >>> iso_z(dt.datetime(2026, 11, 21, 14, 3, 10))
    '2026-11-21T14:03:10Z'
    """
    t = as_utc(moment)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"
