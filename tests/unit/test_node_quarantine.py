"""A journal row that is no valid record is set aside; every loop of the agent goes on.

Rows get broken by hand edits, by older versions, or by rules tightened since they were
written: such a row must neither stop the rows after it nor pass silently.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import structlog
from structlog.testing import capture_logs

from node_agent.committer import Committer, Outcome, repo_path_for
from node_agent.journal import Journal
from node_agent.records import draft_record
from node_agent.service import _commit_loop, loop_backoff_s

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def add(journal: Journal, *, minute: int = 3, hour: int = 14) -> str:
    at = NOW.replace(hour=hour, minute=minute)
    raw = {
        "user": USER,
        "resource_kind": "vm_hour",
        "applies_to": "vm",
        "quantity": 1,
        "amount_cents": 10,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return journal.append(draft_record(raw, node="node-a", now=at), now=at).key


def poison(journal: Journal, key: str, body: str | bytes) -> None:
    """Overwrite the body of row *key* behind the journal's back."""
    db = sqlite3.connect(journal.path)
    db.execute("UPDATE records SET body = ? WHERE key = ?", (body, key))
    db.commit()
    db.close()


def body_with(journal: Journal, row_key: str, **change: Any) -> str:
    (body,) = (
        sqlite3.connect(journal.path)
        .execute("SELECT body FROM records WHERE key = ?", (row_key,))
        .fetchone()
    )
    return json.dumps({**json.loads(body), **change})


@pytest.fixture(autouse=True)
def fresh_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loggers not cached by an earlier CLI run, so that capture_logs sees their lines."""
    import node_agent.journal
    import node_agent.service

    monkeypatch.setattr(node_agent.journal, "log", structlog.get_logger("hero.node.journal"))
    monkeypatch.setattr(node_agent.service, "log", structlog.get_logger("hero.node"))


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "node-a.db", node="node-a")


POISONS: dict[str, Callable[[Journal, str], str | bytes]] = {
    "not JSON": lambda j, k: "{half",
    "not UTF-8": lambda j, k: b"\xff\xfe",
    "amount out of bounds": lambda j, k: body_with(j, k, amount_cents=10**15),
    "time overflow": lambda j, k: body_with(j, k, occurred_at="99999999999999999999"),
    "another key": lambda j, k: body_with(j, k, key="node-a:999"),
    "a JSON list": lambda j, k: "[1, 2]",
}


@pytest.mark.parametrize("kind", list(POISONS))
def test_a_bad_row_is_quarantined_and_the_rows_after_it_go_on(journal: Journal, kind: str) -> None:
    # Given three records, the middle one broken
    first, middle, last = (add(journal) for _ in range(3))
    poison(journal, middle, POISONS[kind](journal, middle))

    # When the publisher and the committer read the journal
    with capture_logs() as logs:
        unpublished = [r.key for r in journal.unpublished(limit=10)]
        uncommitted = [r.key for r in journal.uncommitted()]

    # Then both get the good rows, and the bad one is set aside once, with an error logged
    assert unpublished == uncommitted == [first, last]
    errors = [e for e in logs if e["event"] == "journal.record_quarantined"]
    assert len(errors) == 1
    assert errors[0]["log_level"] == "error" and errors[0]["key"] == middle
    assert journal.counts().quarantined == 1
    (row,) = journal.quarantined(limit=10)
    assert row["key"] == middle and row["reason"]


def test_quarantined_rows_are_left_out_of_the_oldest_waiting(journal: Journal) -> None:
    bad, good = add(journal), add(journal)
    poison(journal, bad, "{half")
    journal.unpublished(limit=10)

    counts = journal.counts()

    assert counts.oldest_unpublished is not None
    assert counts.oldest_unpublished["key"] == good


def test_a_journal_of_the_first_release_gains_the_quarantine_columns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.db")
    db.executescript(
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('node', 'node-a');"
        "CREATE TABLE records (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
        " body TEXT NOT NULL, hour TEXT NOT NULL, recorded_at TEXT NOT NULL, published_at TEXT,"
        " committed_at TEXT, commit_id TEXT, pushed_at TEXT);"
    )
    db.close()

    with Journal(tmp_path / "old.db", node="node-a") as journal:
        key = add(journal)
        assert [r.key for r in journal.unpublished(limit=5)] == [key]
        assert journal.counts().quarantined == 0


def test_the_committer_commits_the_good_rows_of_an_hour_with_a_bad_one(
    journal: Journal, tmp_path: Path
) -> None:
    good, bad = add(journal, hour=10), add(journal, hour=10)
    poison(journal, bad, body_with(journal, bad, quantity=-1))
    committer = Committer(
        repo_path_for(journal.path),
        node="node-a",
        key=nacl.signing.SigningKey.generate(),
        remote=None,
        clock=lambda: NOW,
    )

    outcome = committer.run(journal, include_open=False)

    assert len(outcome.commits) == 1 and outcome.failed_hours == 0
    counts = journal.counts()
    assert (counts.committed, counts.quarantined) == (1, 1)
    assert journal.uncommitted() == []
    assert good != bad


# -- loops ------------------------------------------------------------------------------


class CountingStop(threading.Event):
    """A stop event that records each wait and sets itself after *rounds* of them."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds = rounds
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.rounds:
            self.set()
        return self.is_set()


class FailingCommitter:
    """Fails *failures* rounds, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def run(self, journal: Journal, *, include_open: bool) -> Outcome:
        self.calls += 1
        if self.calls <= self.failures:
            raise sqlite3.OperationalError("disk I/O error")
        return Outcome(commits=(), failed_hours=0, pushed=True)


def test_a_failing_commit_loop_logs_each_failure_and_backs_off(journal: Journal) -> None:
    committer = FailingCommitter(failures=3)
    stop = CountingStop(rounds=5)

    with capture_logs() as logs:
        _commit_loop(committer, journal, 60, stop)  # type: ignore[arg-type]

    failed = [e for e in logs if e["event"] == "committer.round_failed"]
    assert [e["failures"] for e in failed] == [1, 2, 3]
    assert all(e["log_level"] == "error" for e in failed)
    assert stop.waits == [60.0, 120.0, 240.0, 60.0, 60.0]
    assert committer.calls == 5


def test_backoff_doubles_up_to_ten_minutes() -> None:
    assert [loop_backoff_s(n, base_s=1) for n in (0, 1, 2, 3, 20)] == [1, 1, 2, 4, 600]
    assert loop_backoff_s(5, base_s=3600) == 3600
