"""The aggregator against a real git smart-HTTP server: hash-resume, quarantine,
force-push, and charges that stay single."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from adapters.forge import ForgeUnavailable
from models import Alert, Node, UsageRecord
from tests.support.aggregator import (  # noqa: F401 - db_url, forge and node are fixtures
    HOUR,
    USER,
    balance,
    db_url,
    forge,
    node,
    rec,
    run_pull,
)


def test_pull_resumes_from_the_cursor_and_charges_each_record_once(node, tmp_path) -> None:
    node.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2)])
    first_commit = node.commit()
    node.push()
    report = run_pull(tmp_path)
    assert (report.commits, report.records) == (1, 2)
    assert Node.get().cursor_commit == first_commit
    assert balance() == -20

    # a late record rewrites the hour's file as the union, in a new commit
    node.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2), rec("node-a", 3, cents=5)])
    node.write_batch(
        HOUR + dt.timedelta(hours=1), [rec("node-a", 4, hour=HOUR + dt.timedelta(hours=1))]
    )
    node.commit()
    node.push()
    again = run_pull(tmp_path)
    assert (again.commits, again.files, again.records) == (1, 2, 4)
    assert balance() == -35
    assert UsageRecord.select().count() == 4
    assert run_pull(tmp_path).commits == 0


def test_bad_signature_and_malformed_files_are_quarantined_and_the_rest_applied(
    node, tmp_path
) -> None:
    node.write_batch(HOUR, [rec("node-a", 1)], signature="00" * 64)
    node.write_batch(HOUR + dt.timedelta(hours=1), [], data=b"format = 1\nnode = [broken")
    good_hour = HOUR + dt.timedelta(hours=2)
    node.write_batch(good_hour, [rec("node-a", 7, cents=3, hour=good_hour)])
    bad_hour = HOUR + dt.timedelta(hours=3)
    mixed = (
        b'format = 1\nnode = "node-a"\nhour = "2026-11-20T13:00:00Z"\n\n'
        b'[[records]]\nkey = "node-a:8"\nuser = "' + USER.encode() + b'"\n'
        b'resource_kind = "vm_hour"\napplies_to = "vm"\nquantity = 1\n'
        b'amount_cents = -5\noccurred_at = "2026-11-20T13:01:00Z"\n\n'
        b'[[records]]\nkey = "node-a:9"\nuser = "10.1.2.3"\n'
        b'resource_kind = "vm_hour"\napplies_to = "vm"\nquantity = 1\n'
        b'amount_cents = 5\noccurred_at = "2026-11-20T13:02:00Z"\n\n'
        b'[[records]]\nkey = "node-a:10"\nuser = "' + USER.encode() + b'"\n'
        b'resource_kind = "vm_hour"\napplies_to = "vm"\nquantity = 1\n'
        b'amount_cents = 4\noccurred_at = "2026-11-20T13:03:00Z"\n'
    )
    node.write_batch(bad_hour, [], data=mixed)
    node.commit()
    node.push()

    report = run_pull(tmp_path)

    assert (report.quarantined, report.rejected, report.records) == (2, 2, 2)
    assert balance() == -7
    alerts: dict[str, list[str]] = {a.kind: [] for a in Alert.select()}
    for alert in Alert.select():
        alerts[alert.kind].append(alert.message)
    assert any("bad signature" in m for m in alerts["quarantine"])
    assert any("not TOML" in m for m in alerts["quarantine"])
    reasons = json.loads(Alert.get(Alert.kind == "records_rejected").details)["reasons"]
    assert any("amount_cents: must not be negative" in r for r in reasons)
    assert any("user: " in r and "IPv4" in r for r in reasons)


def test_force_push_raises_an_alert_charges_nothing_twice_and_reports_vanished_keys(
    node, tmp_path
) -> None:
    node.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2), rec("node-a", 3)])
    base = node.commit("first")
    node.push()
    run_pull(tmp_path)
    assert balance() == -30

    # history rewritten: record 3 disappears, record 4 is new
    node.git("reset", "-q", "--hard", base)
    node.git("commit", "-q", "--amend", "-m", "rewritten")
    node.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2), rec("node-a", 4)])
    node.commit("rewritten again")
    node.push(force=True)

    report = run_pull(tmp_path)

    assert report.force_push
    assert report.vanished == ["node-a:3"]
    assert balance() == -40
    alert = Alert.get(Alert.kind == "force_push")
    assert json.loads(alert.details)["vanished_keys"] == ["node-a:3"]


def test_forge_down_moves_nothing_and_a_later_pull_catches_up(node, forge, tmp_path) -> None:
    node.write_batch(HOUR, [rec("node-a", 1)])
    node.commit()
    node.push()
    forge.down = True
    with pytest.raises(ForgeUnavailable, match="503"):
        run_pull(tmp_path)
    assert Node.get().cursor_commit is None and balance() == 0
    forge.down = False
    assert run_pull(tmp_path).records == 1
    assert balance() == -10


def test_catch_up_checkpoints_the_cursor_and_batches_records(node, tmp_path) -> None:
    for hour in range(30):
        moment = HOUR - dt.timedelta(hours=hour)
        node.write_batch(
            moment, [rec("node-a", hour * 100 + i, cents=1, hour=moment) for i in range(50)]
        )
        node.commit(f"hour {hour}")
    node.push()
    delivered: list[int] = []
    report = run_pull(tmp_path, delivered)
    assert (report.commits, report.records) == (30, 1500)
    assert sum(delivered) == 1500 and max(delivered) <= 1000
    assert balance() == -1500


def test_a_file_rewritten_as_the_union_within_one_pull_charges_each_record_once(
    node, tmp_path
) -> None:
    node.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2)])
    node.commit("first")
    node.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2), rec("node-a", 3)])
    node.commit("late record")
    node.push()
    report = run_pull(tmp_path)
    assert (report.commits, report.records) == (2, 5)
    assert UsageRecord.select().count() == 3
    assert balance() == -30
