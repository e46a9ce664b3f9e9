"""The commit plan, pure: which hourly batch files to (re)write, and with what records.

No clock, no git, no journal here: the committer shell reads the journal and the tree,
calls these functions with ``now``, and writes what they return.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from node_agent.journal import JournalRow
from wire.otoml import UsageIn, batch_path, hour_of

#: The length of one batch, the unit of a commit.
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class HourFile:
    """One batch file to write: the journal's new records for one hour of one node."""

    node: str
    hour: dt.datetime
    path: str
    #: Records not yet committed, by sequence number.
    records: tuple[UsageIn, ...]

    @property
    def seqs(self) -> tuple[int, ...]:
        return tuple(r.seq for r in self.records)

    @property
    def sig_path(self) -> str:
        return self.path + ".sig"


def is_closed(hour: dt.datetime, *, now: dt.datetime) -> bool:
    """Whether *hour* is over at *now* (no new record of it is expected on time).

    >>> t = dt.datetime(2026, 11, 21, 14, tzinfo=dt.UTC)
    >>> is_closed(t, now=t + HOUR), is_closed(t, now=t + HOUR - dt.timedelta(seconds=1))
    (True, False)
    """
    return hour + HOUR <= now


def plan_commits(
    rows: Sequence[JournalRow], *, node: str, now: dt.datetime, include_open: bool
) -> tuple[HourFile, ...]:
    """The hour files to write for the journal's uncommitted *rows*, oldest hour first.

    Args:
        rows: journal rows; rows already committed are left out.
        node: the node whose batches these are.
        now: the current time (UTC), which decides which hours are closed.
        include_open: also write hours that are not over yet (``flush``); ``serve``
            passes False so the current hour stays open until it ends.

    Returns:
        One ``HourFile`` per hour with uncommitted records; empty when nothing is due.
    """
    by_hour: dict[dt.datetime, list[UsageIn]] = {}
    for row in rows:
        if row.committed_at is not None:
            continue
        by_hour.setdefault(hour_of(row.record.occurred_at), []).append(row.record)
    return tuple(
        HourFile(
            node=node,
            hour=hour,
            path=batch_path(node, hour),
            records=tuple(sorted(records, key=lambda r: r.seq)),
        )
        for hour, records in sorted(by_hour.items())
        if include_open or is_closed(hour, now=now)
    )


def merge_records(existing: Iterable[UsageIn], new: Iterable[UsageIn]) -> list[UsageIn]:
    """The union of a committed file's records and new ones, by key, in key order.

    A key already in the file keeps the file's version: a committed record never changes.
    """
    merged: dict[str, UsageIn] = {}
    for record in (*existing, *new):
        merged.setdefault(record.key, record)
    return sorted(merged.values(), key=lambda r: r.seq)
