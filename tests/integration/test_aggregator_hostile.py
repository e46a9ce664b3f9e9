"""The aggregator against hostile and careless input: poison records, signed garbage,
forged history, silent servers and bad locations. One bad thing never blocks the rest."""

# ruff: noqa: F811 - the fixtures of test_aggregator are imported by name

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from actors.aggregator import ForgeAccess, pull, pull_node
from actors.usage import apply_batch
from adapters.forge import ForgeUnavailable
from models import Alert, Node, UsageRecord
from tests.support.aggregator import (  # noqa: F401
    HOUR,
    NOW,
    USER,
    balance,
    db_url,
    forge,
    node,
    rec,
    run_pull,
    silent_server,
)
from tests.support.node_repo import NodeRepo
from wire.otoml import dumps


def toml_record(seq: int, minute: int, **fields: object) -> bytes:
    values: dict[str, object] = {
        "key": f'"node-a:{seq}"',
        "user": f'"{USER}"',
        "resource_kind": '"vm_hour"',
        "applies_to": '"vm"',
        "quantity": 1,
        "amount_cents": 5,
        "occurred_at": f'"2026-11-20T10:{minute:02d}:00Z"',
        **fields,
    }
    return b"\n[[records]]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()).encode()


def alerts(kind: str) -> list[Alert]:
    return list(Alert.select().where(Alert.kind == kind).order_by(Alert.id))


def test_a_poison_record_in_a_signed_file_is_rejected_and_its_neighbours_charged(
    node: NodeRepo, tmp_path: Path
) -> None:
    data = (
        dumps("node-a", HOUR, [rec("node-a", 1, cents=7)])
        + toml_record(2, 2, amount_cents=10**19 - 1)
        + toml_record(3, 3, quantity=2**63 - 1)
        + toml_record(4, 4, amount_cents=4)
    )
    node.write_batch(HOUR, [], data=data)
    node.commit()
    node.push()

    report = run_pull(tmp_path)

    assert (report.records, report.rejected, report.quarantined) == (2, 2, 0)
    assert balance() == -11
    assert sorted(r.key for r in UsageRecord.select()) == ["node-a:1", "node-a:4"]
    [alert] = alerts("records_rejected")
    details = json.loads(alert.details)
    assert details["path"] == "nodes/node-a/usage_2026-11-20-10.otoml"
    assert any("amount_cents: 9999999999999999999 is more than" in r for r in details["reasons"])
    assert any("quantity: 9223372036854775807 is more than" in r for r in details["reasons"])
    # the next pull goes on from there
    assert run_pull(tmp_path).commits == 0


@pytest.mark.parametrize(
    ("hour_line", "reason"),
    [
        (b'hour = "2026-11-20T1:00:00Z"', "hour: "),
        (b'hour = "2026-11-20T24:00:00Z"', "hour: "),
        (b'hour = "2026-11-20T11:00:00Z"', "but its path is nodes/node-a/usage_2026-11-20-10"),
        (b'hour = "0999-11-20T10:00:00Z"', "years 2000..9999"),
    ],
)
def test_a_signed_file_with_a_bad_hour_is_quarantined_and_the_rest_goes_on(
    node: NodeRepo, tmp_path: Path, hour_line: bytes, reason: str
) -> None:
    bad = dumps("node-a", HOUR, [rec("node-a", 1)]).replace(
        b'hour = "2026-11-20T10:00:00Z"', hour_line
    )
    path = node.write_batch(HOUR, [], data=bad)
    later = HOUR + dt.timedelta(hours=2)
    node.write_batch(later, [rec("node-a", 2, cents=3, hour=later)])
    commit = node.commit()
    node.push()

    report = run_pull(tmp_path)

    assert (report.quarantined, report.records) == (1, 1)
    assert balance() == -3
    [alert] = alerts("quarantine")
    details = json.loads(alert.details)
    assert (details["commit"], details["path"]) == (commit, path)
    assert reason in details["reason"]


def test_signed_garbage_of_every_kind_is_quarantined_never_raised(
    node: NodeRepo, tmp_path: Path
) -> None:
    garbage = [
        b"a = " + b"[" * 3000 + b"]" * 3000,
        b"format = " + b"9" * 5000,
        b'format = true\nnode = "node-a"\nhour = "2026-11-20T10:00:00Z"\n',
        b"\xff\xfe\x00",
        b'format = 1\nnode = "node-a"\nhour = "2026-11-20T10:00:00Z"\nrecords = 5\n',
    ]
    for i, data in enumerate(garbage):
        node.write_batch(HOUR + dt.timedelta(hours=i), [], data=data)
    good = HOUR + dt.timedelta(hours=len(garbage))
    node.write_batch(good, [rec("node-a", 9, cents=2, hour=good)])
    node.commit()
    node.push()

    report = run_pull(tmp_path)

    assert (report.quarantined, report.records) == (len(garbage), 1)
    assert balance() == -2
    assert len(alerts("quarantine")) == len(garbage)


def test_vanished_keys_are_read_from_signed_files_only(node: NodeRepo, tmp_path: Path) -> None:
    # node-a:5 was charged over NATS; an unsigned file in the old history names it
    apply_batch([rec("node-a", 5).to_json()], via="nats", now=NOW)
    node.write_batch(HOUR, [rec("node-a", 1)])
    later = HOUR + dt.timedelta(hours=1)
    node.write_batch(later, [rec("node-a", 5, hour=later)], signature="00" * 64)
    base = node.commit("first")
    node.push()
    run_pull(tmp_path)

    node.git("reset", "-q", "--hard", base)
    node.git("rm", "-q", "--cached", "nodes/node-a/usage_2026-11-20-11.otoml")
    node.git("rm", "-q", "--cached", "nodes/node-a/usage_2026-11-20-11.otoml.sig")
    node.git("commit", "-q", "--amend", "-m", "rewritten")
    node.push(force=True)

    report = run_pull(tmp_path)

    assert report.force_push
    assert report.vanished == []


def test_a_server_that_never_answers_times_out(
    silent_server: str, tmp_path: Path, db_url: str
) -> None:
    Node.create(name="node-a", repo_url=silent_server, pubkey_hex="00" * 32)
    access = ForgeAccess(mirror_dir=str(tmp_path / "mirrors"), timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ForgeUnavailable, match="timed out"):
        pull(Node.get(), deliver=lambda records: None, access=access, now=NOW)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "url", ["ext::sh -c touch% {marker}", "ssh://-oProxyCommand=touch%20{marker}/x", "file:///x"]
)
def test_a_node_with_a_bad_location_is_alerted_and_skipped(
    url: str, tmp_path: Path, db_url: str
) -> None:
    marker = tmp_path / "pwned"
    Node.create(name="node-a", repo_url=url.format(marker=marker), pubkey_hex="00" * 32)

    result = pull_node("node-a")

    assert "repo: " in result["skipped"]
    assert not marker.exists()
    [alert] = alerts("forge_unavailable")
    assert alert.subject == "node-a" and "repo: " in alert.message
