"""Times as people read them: "30 Dec 2026, 10:01 UTC", "in 3 days", never raw ISO."""

from __future__ import annotations

import datetime as dt

from wire.times import iso_z

#: Below this, a relative time says "just now" / "in a moment".
_MOMENT_S = 60


def _utc(when: dt.datetime) -> dt.datetime:
    """*when* as naive UTC (the form every timestamp column stores)."""
    if when.tzinfo is not None:
        return when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def human_time(when: dt.datetime | None) -> str:
    """A moment as a person reads it, in UTC, to the minute.

    >>> human_time(dt.datetime(2026, 12, 30, 10, 1, 59, 123456))
    '30 Dec 2026, 10:01 UTC'
    >>> human_time(None)
    '—'
    """
    if when is None:
        return "—"
    return _utc(when).strftime("%-d %b %Y, %H:%M UTC")


def human_date(when: dt.datetime | dt.date | None) -> str:
    """A day as a person reads it.

    >>> human_date(dt.date(2026, 12, 30))
    '30 Dec 2026'
    """
    if when is None:
        return "—"
    return when.strftime("%-d %b %Y")


def iso_utc(when: dt.datetime) -> str:
    """UTC ISO 8601 to the second, for machines (CSV, ``<time datetime>``).

    >>> iso_utc(dt.datetime(2026, 12, 30, 10, 1, 59, 123456))
    '2026-12-30T10:01:59Z'
    """
    return iso_z(when)


def relative(when: dt.datetime, now: dt.datetime) -> str:
    """How far *when* is from *now*, in the largest whole unit.

    >>> now = dt.datetime(2026, 12, 27, 10, 0)
    >>> relative(dt.datetime(2026, 12, 30, 10, 1), now)
    'in 3 days'
    >>> relative(dt.datetime(2026, 12, 27, 8, 0), now)
    '2 hours ago'
    >>> relative(now, now)
    'just now'
    """
    seconds = int((_utc(when) - _utc(now)).total_seconds())
    ahead = seconds > 0
    span = abs(seconds)
    if span < _MOMENT_S:
        return "in a moment" if ahead else "just now"
    for unit_s, name in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if span >= unit_s:
            count = span // unit_s
            words = f"{count} {name}{'s' if count != 1 else ''}"
            return f"in {words}" if ahead else f"{words} ago"
    raise AssertionError("unreachable")  # pragma: no cover


def with_relative(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """A moment with how far it is from now, for dates that matter soon.

    >>> with_relative(dt.datetime(2026, 12, 30, 10, 1), dt.datetime(2026, 12, 27, 10, 0))
    '30 Dec 2026, 10:01 UTC (in 3 days)'
    """
    if when is None:
        return "—"
    if now is None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return f"{human_time(when)} ({relative(when, now)})"
