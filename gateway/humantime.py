"""Times as people read them: "30 Dec 2026, 10:01 UTC", "in 3 days", never raw ISO."""

from __future__ import annotations

import datetime as dt

from wire.times import as_utc, iso_z, utcnow

#: Below this, a relative time says "just now" / "in a moment".
_MOMENT_S = 60


#: What the filters take: a stored datetime, or the ISO 8601 text a message or a read
#: model carries ("2026-12-30T10:01:59.123456Z").
Moment = dt.datetime | str


def moment(value: Moment | None) -> dt.datetime | None:
    """*value* as a datetime; ISO 8601 text is parsed, a trailing ``Z`` read as UTC.

    >>> moment("2026-12-30T10:01:59.123456Z")
    datetime.datetime(2026, 12, 30, 10, 1, 59, 123456, tzinfo=datetime.timezone.utc)
    >>> moment("soon") is None
    True
    """
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def human_time(value: Moment | None) -> str:
    """A moment as a person reads it, in UTC, to the minute.

    >>> human_time(dt.datetime(2026, 12, 30, 10, 1, 59, 123456))
    '30 Dec 2026, 10:01 UTC'
    >>> human_time("2026-12-30T12:01:59.5+02:00")
    '30 Dec 2026, 10:01 UTC'
    >>> human_time(None)
    '—'
    """
    when = moment(value)
    if when is None:
        return "—" if value is None else str(value)
    return as_utc(when).strftime("%-d %b %Y, %H:%M UTC")


def human_date(when: dt.datetime | dt.date | None) -> str:
    """A day as a person reads it.

    >>> human_date(dt.date(2026, 12, 30))
    '30 Dec 2026'
    """
    if when is None:
        return "—"
    return when.strftime("%-d %b %Y")


def iso_utc(value: Moment) -> str:
    """UTC ISO 8601 to the second, for machines (CSV, ``<time datetime>``).

    >>> iso_utc(dt.datetime(2026, 12, 30, 10, 1, 59, 123456))
    '2026-12-30T10:01:59Z'
    >>> iso_utc("2026-12-30T10:01:59.123456Z")
    '2026-12-30T10:01:59Z'
    """
    when = moment(value)
    return iso_z(when) if when is not None else ""


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
    seconds = int((as_utc(when) - as_utc(now)).total_seconds())
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


def with_relative(value: Moment | None, now: dt.datetime | None = None) -> str:
    """A moment with how far it is from now, for dates that matter soon.

    >>> with_relative(dt.datetime(2026, 12, 30, 10, 1), dt.datetime(2026, 12, 27, 10, 0))
    '30 Dec 2026, 10:01 UTC (in 3 days)'
    >>> with_relative("2026-12-30T10:01:00Z", dt.datetime(2026, 12, 27, 10, 0))
    '30 Dec 2026, 10:01 UTC (in 3 days)'
    """
    when = moment(value)
    if when is None:
        return human_time(value)
    if now is None:
        now = utcnow()
    return f"{human_time(when)} ({relative(when, now)})"
