"""``hero-node record``, ``status`` and ``intake-token`` in-process: clear errors, no tracebacks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from node_agent.cli import EXIT_OK, EXIT_USAGE
from node_agent.journal import Journal
from tests.support.node_cli import USER, node_environ, run_main  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("node_environ")


def record(*extra: str, kind: str = "vm_hour") -> tuple[int, str, str]:
    return run_main(
        "record", "--user", USER, "--kind", kind, "--quantity", "1", "--amount-cents", "10", *extra
    )


def journalled(tmp_path: Path) -> list[dict[str, object]]:
    with Journal(tmp_path / "j.db", node="node-a") as journal:
        return [r.record.to_json() for r in journal.unpublished(limit=10)]


@pytest.mark.parametrize(
    "at",
    [
        "99999999999999999999",
        "9" * 400,
        "yesterday",
        "2026-11-21",
        "2026-11-21T14:00:00",
        "2026-13-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "",
        " ",
        "２０２６-11-21T14:00:00Z",
        "2026-11-21T14:00:00Z\x00",
    ],
)
def test_a_bad_at_exits_2_naming_the_option(tmp_path: Path, at: str) -> None:
    code, out, err = record("--at", at)

    assert code == EXIT_USAGE
    assert err.startswith("hero-node: --at: occurred_at:")
    assert "Traceback" not in err and out == ""
    assert journalled(tmp_path) == []


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("vm_hour", "vm"),
        ("llm_token", "llm"),
        ("hero_os_hour", "hero_os_hourly"),
        ("other", "hero_os_hourly"),
    ],
)
def test_the_category_follows_the_kind_when_none_is_given(
    tmp_path: Path, kind: str, category: str
) -> None:
    code, _, err = record(kind=kind)

    assert code == EXIT_OK, err
    assert [r["applies_to"] for r in journalled(tmp_path)] == [category]


def test_a_given_category_is_kept(tmp_path: Path) -> None:
    code, _, _ = record("--applies-to", "hero_os_hourly", kind="vm_hour")

    assert code == EXIT_OK
    assert [r["applies_to"] for r in journalled(tmp_path)] == ["hero_os_hourly"]


def test_status_counts_and_names_quarantined_rows(tmp_path: Path) -> None:
    record()
    record()
    db = sqlite3.connect(tmp_path / "j.db")
    db.execute("UPDATE records SET body = '{half' WHERE key = 'node-a:1'")
    db.commit()
    db.close()
    journalled(tmp_path)  # a reader finds the broken row and quarantines it

    code, out, err = run_main("status")
    json_code, json_out, _ = run_main("status", "--json")

    assert code == json_code == EXIT_OK
    assert "1 quarantined" in out and "quarantined: node-a:1" in out
    assert "quarantined" in err
    report = json.loads(json_out)
    assert report["quarantined"] == 1
    assert [r["key"] for r in report["quarantined_rows"]] == ["node-a:1"]
    assert report["oldest_unpublished"]["key"] == "node-a:2"


def test_intake_token_prints_the_token_of_the_file_serve_uses(tmp_path: Path) -> None:
    code, out, _ = run_main("intake-token")
    again_code, again, _ = run_main("intake-token")

    assert code == again_code == EXIT_OK
    assert out == again and len(out.strip()) == 64
    assert (tmp_path / "j.intake-token").read_text().strip() == out.strip()
