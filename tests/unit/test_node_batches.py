"""The commit plan: which hourly batch files to write, and the union for late records."""

from __future__ import annotations

import datetime as dt

from node_agent.batches import merge_records, plan_commits
from node_agent.journal import JournalRow, encode_body
from wire.otoml import UsageIn

H10 = dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)
H11 = H10 + dt.timedelta(hours=1)
H12 = H10 + dt.timedelta(hours=2)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def record(seq: int, at: dt.datetime, *, quantity: int = 1) -> UsageIn:
    return UsageIn(
        key=f"node-a:{seq}",
        node="node-a",
        user=USER,
        resource_kind="vm_hour",
        applies_to="vm",
        quantity=quantity,
        amount_cents=10,
        occurred_at=at,
    )


def row(seq: int, at: dt.datetime, *, committed: bool = False) -> JournalRow:
    usage = record(seq, at)
    return JournalRow(
        seq=seq,
        key=usage.key,
        body=encode_body(usage),
        record=usage,
        recorded_at="2026-11-21T12:00:00Z",
        committed_at="2026-11-21T12:00:00Z" if committed else None,
    )


ROWS = [
    row(1, H10 + dt.timedelta(minutes=5)),
    row(2, H11 + dt.timedelta(minutes=59, seconds=59)),
    row(3, H12 + dt.timedelta(minutes=1)),
    row(4, H10 + dt.timedelta(minutes=40)),
]


def test_serve_plans_closed_hours_only() -> None:
    now = H12 + dt.timedelta(minutes=30)

    plan = plan_commits(ROWS, node="node-a", now=now, include_open=False)

    assert [f.hour for f in plan] == [H10, H11]
    assert [f.seqs for f in plan] == [(1, 4), (2,)]


def test_an_hour_closes_at_its_end() -> None:
    plan = plan_commits(ROWS, node="node-a", now=H12, include_open=False)

    assert [f.hour for f in plan] == [H10, H11]
    assert (
        plan_commits(ROWS, node="node-a", now=H12 - dt.timedelta(seconds=1), include_open=False)[
            -1
        ].hour
        == H10
    )


def test_flush_plans_every_hour_including_the_open_one() -> None:
    now = H12 + dt.timedelta(minutes=30)

    plan = plan_commits(ROWS, node="node-a", now=now, include_open=True)

    assert [f.hour for f in plan] == [H10, H11, H12]


def test_plan_names_the_batch_file_and_its_signature() -> None:
    (hour_file,) = plan_commits(ROWS[:1], node="node-a", now=H12, include_open=False)

    assert hour_file.path == "nodes/node-a/usage_2026-11-21-10.otoml"
    assert hour_file.sig_path == "nodes/node-a/usage_2026-11-21-10.otoml.sig"


def test_committed_rows_are_left_out() -> None:
    rows = [row(1, H10, committed=True), row(2, H10 + dt.timedelta(minutes=1))]

    (hour_file,) = plan_commits(rows, node="node-a", now=H12, include_open=False)

    assert hour_file.seqs == (2,)


def test_nothing_uncommitted_plans_nothing() -> None:
    rows = [row(1, H10, committed=True)]

    assert plan_commits(rows, node="node-a", now=H12, include_open=True) == ()
    assert plan_commits([], node="node-a", now=H12, include_open=True) == ()


def test_late_record_is_merged_with_the_committed_file() -> None:
    committed = [record(1, H10), record(4, H10 + dt.timedelta(minutes=2))]
    late = [record(7, H10 + dt.timedelta(minutes=1))]

    merged = merge_records(committed, late)

    assert [r.key for r in merged] == ["node-a:1", "node-a:4", "node-a:7"]


def test_merge_keeps_the_committed_version_of_a_key() -> None:
    committed = [record(1, H10, quantity=1)]
    again = [record(1, H10, quantity=99), record(2, H10)]

    merged = merge_records(committed, again)

    assert [(r.key, r.quantity) for r in merged] == [("node-a:1", 1), ("node-a:2", 1)]
