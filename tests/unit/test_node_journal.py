"""The node journal: durable records whose keys never repeat."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from node_agent.journal import Journal, JournalError, encode_body
from wire.otoml import UsageIn

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def draft(*, minute: int = 3, amount_cents: int = 3) -> UsageIn:
    return UsageIn(
        key="node-a:0",
        node="node-a",
        user=USER,
        resource_kind="llm_token",
        applies_to="llm",
        quantity=1200,
        amount_cents=amount_cents,
        occurred_at=NOW.replace(minute=minute),
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "node-a.db", node="node-a")


def test_append_gives_consecutive_keys_of_the_node(journal: Journal) -> None:
    keys = [journal.append(draft(), now=NOW).key for _ in range(3)]

    assert keys == ["node-a:1", "node-a:2", "node-a:3"]


def test_keys_do_not_repeat_after_reopening(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", node="node-a") as first:
        before = {first.append(draft(), now=NOW).key for _ in range(5)}
    with Journal(tmp_path / "j.db", node="node-a") as again:
        after = {again.append(draft(), now=NOW).key for _ in range(5)}

    assert before.isdisjoint(after)
    assert len(before | after) == 10


def test_keys_do_not_repeat_after_the_newest_rows_are_deleted(tmp_path: Path) -> None:
    # Given a journal whose last rows someone deleted by hand
    with Journal(tmp_path / "j.db", node="node-a") as journal:
        for _ in range(4):
            journal.append(draft(), now=NOW)
    db = sqlite3.connect(tmp_path / "j.db")
    db.execute("DELETE FROM records WHERE seq >= 2")
    db.commit()
    db.close()

    # When a record is appended after reopening
    with Journal(tmp_path / "j.db", node="node-a") as journal:
        key = journal.append(draft(), now=NOW).key

    # Then it gets a number never handed out before
    assert key == "node-a:5"


def test_appended_record_is_readable_from_a_new_connection(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", node="node-a") as journal:
        record = journal.append(draft(amount_cents=7), now=NOW)
    with Journal(tmp_path / "j.db", node="node-a") as reopened:
        rows = reopened.unpublished(limit=10)

    assert [r.record for r in rows] == [record]
    assert rows[0].hour == dt.datetime(2026, 11, 21, 14, tzinfo=dt.UTC)


def test_body_is_compact_sorted_json_of_the_record(journal: Journal) -> None:
    record = journal.append(draft(), now=NOW)

    body = journal.unpublished(limit=1)[0].body

    assert body == encode_body(record)
    assert body == json.dumps(record.to_json(), sort_keys=True, separators=(",", ":")).encode()
    assert b" " not in body


def test_journal_of_another_node_is_refused(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db", node="node-a").close()

    with pytest.raises(JournalError, match="node-a"):
        Journal(tmp_path / "j.db", node="node-b")


def test_journal_runs_in_wal_mode_with_full_sync(journal: Journal) -> None:
    mode = sqlite3.connect(journal.path).execute("PRAGMA journal_mode").fetchone()[0]

    assert mode == "wal"
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


class TestStages:
    """Records move from journalled to published, committed and pushed, and are counted."""

    def test_marked_records_leave_the_waiting_lists(self, journal: Journal) -> None:
        first, second = (journal.append(draft(), now=NOW) for _ in range(2))

        journal.mark_published([first.seq], now=NOW)
        journal.mark_committed([first.seq, second.seq], commit_id="c" * 40, now=NOW)

        assert [r.key for r in journal.unpublished(limit=10)] == [second.key]
        assert journal.uncommitted() == []
        assert journal.committed_unpushed() == 2

    def test_counts_name_the_oldest_waiting_record(self, journal: Journal) -> None:
        first, second = (journal.append(draft(), now=NOW) for _ in range(2))
        journal.mark_published([first.seq], now=NOW)
        journal.mark_committed([first.seq], commit_id="c" * 40, now=NOW)
        journal.mark_pushed(now=NOW)

        counts = journal.counts()

        assert (counts.journalled, counts.published, counts.committed, counts.pushed) == (
            2,
            1,
            1,
            1,
        )
        assert counts.oldest_unpublished == {
            "key": second.key,
            "recorded_at": "2026-11-21T14:30:00Z",
        }
        assert counts.oldest_unpushed is not None
        assert counts.oldest_unpushed["key"] == second.key

    def test_a_stage_is_stamped_once(self, journal: Journal) -> None:
        record = journal.append(draft(), now=NOW)
        journal.mark_published([record.seq], now=NOW)

        journal.mark_published([record.seq], now=NOW + dt.timedelta(hours=1))

        row = sqlite3.connect(journal.path).execute("SELECT published_at FROM records").fetchone()
        assert row == ("2026-11-21T14:30:00Z",)


def test_uncommitted_can_leave_out_the_open_hour(journal: Journal) -> None:
    earlier = journal.append(
        dataclasses.replace(draft(), occurred_at=NOW - dt.timedelta(hours=1)), now=NOW
    )
    journal.append(draft(), now=NOW)

    rows = journal.uncommitted(hours_before=NOW)

    assert [r.key for r in rows] == [earlier.key]
    assert len(journal.uncommitted()) == 2
