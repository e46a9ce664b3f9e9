"""``hero-node quarantine`` and ``quarantine retry``: quarantined journal rows listed, checked
again with the record rules and re-admitted when they are valid now (after an upgrade that
fixed the agent, or a passing fault), the others kept aside with their new reason."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node_agent.cli import EXIT_OK, EXIT_STILL_QUARANTINED, EXIT_USAGE
from node_agent.journal import Journal
from node_agent.records import draft_record
from tests.support.node_cli import USER, node_environ, run_main  # noqa: F401 - fixture
from tests.support.procs import hero_env
from wire.otoml import parse_record

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)
HERO_NODE = str(Path(sys.executable).parent / "hero-node")


def add(journal: Journal) -> str:
    raw = {"user": USER, "resource_kind": "vm_hour", "quantity": 1, "amount_cents": 10}
    return journal.append(draft_record(raw, node="node-a", now=NOW), now=NOW).key


def poison(path: Path, key: str, body: str) -> None:
    """Overwrite the body of row *key* behind the journal's back."""
    db = sqlite3.connect(path)
    db.execute("UPDATE records SET body = ? WHERE key = ?", (body, key))
    db.commit()
    db.close()


def quarantine_by_a_passing_fault(
    journal: Journal, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Have a reader quarantine the valid row *key* through a fault of the agent itself."""
    real = parse_record

    def failing(raw: Any, **kw: Any) -> Any:
        if raw.get("key") == key:
            raise OSError("disk I/O error")
        return real(raw, **kw)

    monkeypatch.setattr("node_agent.journal.parse_record", failing)
    journal.unpublished(limit=100)
    monkeypatch.setattr("node_agent.journal.parse_record", real)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "j.db", node="node-a") as opened:
        yield opened


@pytest.fixture
def mixed(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """Keys of a good row, a row quarantined by a passing fault, and a broken row."""
    good, passing, broken = add(journal), add(journal), add(journal)
    quarantine_by_a_passing_fault(journal, passing, monkeypatch)
    poison(journal.path, broken, json.dumps({"key": broken, "quantity": -1}))
    journal.unpublished(limit=100)
    assert [r["key"] for r in journal.quarantined(limit=10)] == [passing, broken]
    return good, passing, broken


# -- the journal --------------------------------------------------------------------------


def test_retry_all_readmits_the_valid_row_and_keeps_the_broken_one_with_its_reason(
    journal: Journal, mixed: tuple[str, str, str]
) -> None:
    good, passing, broken = mixed
    (before,) = [r for r in journal.quarantined(limit=10) if r["key"] == broken]

    outcome = journal.retry_quarantined(None)

    assert outcome.readmitted == (passing,)
    assert [r["key"] for r in outcome.still_quarantined] == [broken]
    assert outcome.still_quarantined[0]["reason"].startswith("RecordError: ")
    # The publisher and the committer see the re-admitted row again, under its old key
    assert [r.key for r in journal.unpublished(limit=10)] == [good, passing]
    assert [r.key for r in journal.uncommitted()] == [good, passing]
    assert journal.quarantined(limit=10) == [before]
    assert journal.counts().quarantined == 1


def test_a_row_still_broken_keeps_its_time_and_gets_the_new_reason(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = add(journal)
    quarantine_by_a_passing_fault(journal, key, monkeypatch)
    [first] = journal.quarantined(limit=10)
    assert first["reason"] == "OSError: disk I/O error"
    poison(journal.path, key, "{half")

    outcome = journal.retry_quarantined([key])

    [now] = journal.quarantined(limit=10)
    assert outcome.readmitted == ()
    assert now["quarantined_at"] == first["quarantined_at"]
    assert now["reason"].startswith("JSONDecodeError: ") and outcome.still_quarantined == (now,)


def test_retry_of_named_keys_touches_only_those(
    journal: Journal, mixed: tuple[str, str, str]
) -> None:
    good, passing, broken = mixed

    outcome = journal.retry_quarantined([passing, good, passing])

    assert (outcome.readmitted, outcome.not_quarantined) == ((passing,), (good,))
    assert [r["key"] for r in journal.quarantined(limit=10)] == [broken]


def test_an_unknown_key_is_named_and_nothing_changes(
    journal: Journal, mixed: tuple[str, str, str]
) -> None:
    _, passing, _ = mixed
    before = journal.quarantined(limit=10)

    outcome = journal.retry_quarantined([passing, "node-a:99", "node-b:2"])

    assert outcome.unknown == ("node-a:99", "node-b:2")
    assert outcome.readmitted == () and journal.quarantined(limit=10) == before


def test_retry_waits_for_another_process_writing_and_serve_sees_the_row(
    journal: Journal, mixed: tuple[str, str, str]
) -> None:
    good, passing, _ = mixed
    # Another process (serve) holds the write lock for a while
    other = sqlite3.connect(journal.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()

    outcome = journal.retry_quarantined([passing])

    release.join()
    other.close()
    assert time.monotonic() - started >= 0.4
    assert outcome.readmitted == (passing,)
    with Journal(journal.path, node="node-a") as serving:
        assert [r.key for r in serving.unpublished(limit=10)] == [good, passing]


# -- the command line, in-process --------------------------------------------------------


@pytest.mark.usefixtures("node_environ")
def test_the_listing_names_each_row_and_caps_with_a_count_of_the_rest(
    mixed: tuple[str, str, str],
) -> None:
    _, passing, broken = mixed

    code, out, err = run_main("quarantine")
    capped_code, capped, _ = run_main("quarantine", "--limit", "1")
    json_code, json_out, _ = run_main("quarantine", "--json", "--limit", "1")

    assert code == capped_code == json_code == EXIT_OK
    lines = out.splitlines()
    assert lines[0] == "node node-a: 2 quarantined"
    assert lines[1].startswith(f"{passing} at ") and lines[1].endswith("OSError: disk I/O error")
    assert lines[2].startswith(f"{broken} at ") and "RecordError" in lines[2]
    assert "quarantine retry" in err
    assert capped.splitlines()[-1] == "... 1 more (--limit 0 lists all)"
    report = json.loads(json_out)
    assert set(report) == {"node", "quarantined", "rows", "more"}
    assert (report["node"], report["quarantined"], report["more"]) == ("node-a", 2, 1)
    assert [set(r) for r in report["rows"]] == [{"key", "quarantined_at", "reason"}]
    assert report["rows"][0]["key"] == passing


@pytest.mark.usefixtures("node_environ")
def test_retry_reports_each_row_and_exits_4_while_some_stay_quarantined(
    mixed: tuple[str, str, str],
) -> None:
    _, passing, broken = mixed

    code, out, err = run_main("quarantine", "retry", "--all")
    json_code, json_out, _ = run_main("quarantine", "retry", "--json", broken)

    assert code == json_code == EXIT_STILL_QUARANTINED
    assert f"{passing}: re-admitted" in out
    assert f"{broken}: still quarantined: RecordError: " in out
    assert out.splitlines()[-1] == "1 re-admitted, 1 still quarantined"
    assert "stay quarantined" in err and "Traceback" not in err
    report = json.loads(json_out.splitlines()[-1])  # the log lines before: stdout in tests
    assert set(report) == {"node", "readmitted", "still_quarantined", "not_quarantined", "unknown"}
    assert report["readmitted"] == [] and report["still_quarantined"][0]["key"] == broken


@pytest.mark.usefixtures("node_environ")
@pytest.mark.parametrize(
    "argv", [["quarantine", "--json", "retry"], ["quarantine", "retry", "--json"]]
)
def test_retry_answers_json_wherever_json_is_given(
    mixed: tuple[str, str, str], argv: list[str]
) -> None:
    _, _, broken = mixed

    code, out, _ = run_main(*argv, broken)

    assert code == EXIT_STILL_QUARANTINED
    report = json.loads(out.splitlines()[-1])  # the log lines before: stdout in tests
    assert report["still_quarantined"][0]["key"] == broken


@pytest.mark.usefixtures("node_environ")
def test_retry_of_valid_rows_exits_0(mixed: tuple[str, str, str]) -> None:
    good, passing, _ = mixed

    code, out, _ = run_main("quarantine", "retry", passing, good)

    assert code == EXIT_OK
    assert out.splitlines()[-3:] == [  # after the log lines: stdout in tests
        f"{passing}: re-admitted",
        f"{good}: not quarantined, nothing to do",
        "1 re-admitted, 0 still quarantined",
    ]


@pytest.mark.usefixtures("node_environ")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["node-a:99", "node-a:2"], "hero-node: KEY: node-a:99: no such row"),
        (["bad\nkey"], "hero-node: KEY: bad\\nkey: no such row"),
        ([], "hero-node: quarantine retry: give the keys of the rows or --all"),
        (["node-a:2", "--all"], "hero-node: quarantine retry: give the keys of the rows or --all"),
    ],
)
def test_bad_retry_arguments_exit_2_naming_them_and_change_nothing(
    journal: Journal, mixed: tuple[str, str, str], argv: list[str], message: str
) -> None:
    before = journal.quarantined(limit=10)

    code, out, err = run_main("quarantine", "retry", *argv)

    assert code == EXIT_USAGE
    assert err.startswith(message) and "Traceback" not in err and out == ""
    assert journal.quarantined(limit=10) == before


# -- the console script -------------------------------------------------------------------


def test_the_hero_node_command_lists_and_retries(
    tmp_path: Path, journal: Journal, mixed: tuple[str, str, str]
) -> None:
    _, passing, broken = mixed
    env = hero_env(HERO_NODE_NAME="node-a", HERO_NODE_JOURNAL=str(journal.path))

    def hero_node(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HERO_NODE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    listed = hero_node("quarantine")
    retried = hero_node("quarantine", "retry", passing, broken)
    unknown = hero_node("quarantine", "retry", "node-a:404")
    after = hero_node("quarantine", "--json")
    again = hero_node("quarantine", "retry", "--all", "--json")

    assert listed.returncode == 0 and "node node-a: 2 quarantined" in listed.stdout
    assert retried.returncode == EXIT_STILL_QUARANTINED
    assert f"{passing}: re-admitted" in retried.stdout
    assert f"{broken}: still quarantined" in retried.stdout
    assert unknown.returncode == EXIT_USAGE and "KEY: node-a:404: no such row" in unknown.stderr
    assert [r["key"] for r in json.loads(after.stdout)["rows"]] == [broken]
    assert json.loads(again.stdout)["still_quarantined"][0]["key"] == broken
    for done in (listed, retried, unknown, after, again):
        assert "Traceback" not in done.stderr
