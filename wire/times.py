"""The one time convention: aware UTC in Python, naive UTC in the database, ISO with a Z on
the wire and in every machine-readable output.

``utcnow`` is the one clock. Timestamp columns store naive UTC (SQLite keeps no offset);
every model declares them as ``models.fields.UtcDateTimeField``, which stores an aware value
as naive UTC and hands back aware UTC, so code on either side never converts by hand.
``as_utc`` reads a naive value anywhere as UTC, never as the machine's local time; ``iso_z``
is the one machine-readable form.
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
