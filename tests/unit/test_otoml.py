"""The OTOML batch codec: round trips, and strict validation naming record and field."""

from __future__ import annotations

import datetime as dt

import pytest

from models.otoml import OtomlError, UsageIn, batch_path, dumps, loads

NOW = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)
HOUR = dt.datetime(2026, 11, 21, 14, 0, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"

GOOD = b"""format = 1
node = "node-a"
hour = "2026-11-21T14:00:00Z"

[[records]]
key = "node-a:123"
user = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
resource_kind = "llm_token"
applies_to = "llm"
quantity = 1200
amount_cents = 3
occurred_at = "2026-11-21T14:03:10Z"
"""


def record(seq: int, **overrides) -> UsageIn:
    values = dict(
        key=f"node-a:{seq}",
        node="node-a",
        user=USER,
        resource_kind="llm_token",
        applies_to="llm",
        quantity=10,
        amount_cents=2,
        occurred_at=HOUR + dt.timedelta(minutes=seq % 60),
    )
    values.update(overrides)
    return UsageIn(**values)


def with_record(**fields) -> bytes:
    lines = {
        "key": '"node-a:1"',
        "user": f'"{USER}"',
        "resource_kind": '"vm_hour"',
        "applies_to": '"vm"',
        "quantity": "1",
        "amount_cents": "5",
        "occurred_at": '"2026-11-21T14:10:00Z"',
    }
    lines.update(fields)
    body = "\n".join(f"{k} = {v}" for k, v in lines.items() if v is not None)
    return (
        b'format = 1\nnode = "node-a"\nhour = "2026-11-21T14:00:00Z"\n\n[[records]]\n'
        + body.encode()
    )


def test_the_design_example_parses() -> None:
    batch = loads(GOOD, now=NOW)
    assert batch.node == "node-a" and batch.hour == HOUR and not batch.rejected
    [only] = batch.records
    assert (only.key, only.quantity, only.amount_cents, only.applies_to) == (
        "node-a:123",
        1200,
        3,
        "llm",
    )


def test_dumps_then_loads_gives_the_same_records_sorted_by_sequence() -> None:
    records = [record(12), record(3), record(7, applies_to="hero_os_hourly")]
    batch = loads(dumps("node-a", HOUR, records), now=NOW)
    assert [r.key for r in batch.records] == ["node-a:3", "node-a:7", "node-a:12"]
    assert set(batch.records) == set(records)


def test_a_quoted_unix_time_is_accepted() -> None:
    stamp = int(dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC).timestamp())
    [only] = loads(with_record(occurred_at=f'"{stamp}"'), now=NOW).records
    assert only.occurred_at.minute == 30


def test_a_record_without_applies_to_is_hero_os_hourly() -> None:
    [only] = loads(with_record(applies_to=None), now=NOW).records
    assert only.applies_to == "hero_os_hourly"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("user", '"10.0.0.1"', "user: "),
        ("user", '"2001:db8::1"', "outside 400::/7"),
        ("amount_cents", "-5", "amount_cents: must not be negative"),
        ("quantity", '"3"', "quantity: must be an integer"),
        ("resource_kind", '"gpu"', "resource_kind: 'gpu'"),
        ("applies_to", '"storage"', "applies_to: 'storage'"),
        ("occurred_at", '"2026-11-21T15:11:00Z"', "more than 10 minutes ahead"),
        ("occurred_at", '"2026-11-21T13:59:59Z"', "not in the file's hour"),
        ("occurred_at", "2026-11-21T14:10:00Z", "quoted strings"),
        ("key", '"node-b:1"', "key: 'node-b:1'"),
    ],
)
def test_a_bad_record_is_rejected_naming_record_and_field(field, value, reason) -> None:
    batch = loads(with_record(**{field: value}), now=NOW)
    assert batch.records == ()
    [rejected] = batch.rejected
    assert rejected.reason.startswith("records[0] (")
    assert reason in rejected.reason


def test_future_check_allows_ten_minutes_of_clock_skew() -> None:
    near = with_record(occurred_at='"2026-11-21T14:59:00Z"')
    assert loads(near, now=dt.datetime(2026, 11, 21, 14, 50, tzinfo=dt.UTC)).records


def test_a_duplicate_key_in_one_file_is_rejected_and_the_first_kept() -> None:
    data = dumps("node-a", HOUR, [record(1)]) + (
        b'\n[[records]]\nkey = "node-a:1"\nuser = "'
        + USER.encode()
        + b'"\nresource_kind = "vm_hour"\napplies_to = "vm"\nquantity = 1\namount_cents = 9\n'
        b'occurred_at = "2026-11-21T14:20:00Z"\n'
    )
    batch = loads(data, now=NOW)
    assert [r.amount_cents for r in batch.records] == [2]
    assert "appears twice" in batch.rejected[0].reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is = = not toml", "not TOML"),
        (b'format = 2\nnode = "node-a"\nhour = "2026-11-21T14:00:00Z"\n', "format: must be 1"),
        (b'format = 1\nnode = "Node A"\nhour = "2026-11-21T14:00:00Z"\n', "node: 'Node A'"),
        (b'format = 1\nnode = "node-a"\nhour = "2026-11-21T14:30:00Z"\n', "not on the hour"),
        (b"\xff\xfe", "not TOML"),
    ],
)
def test_a_malformed_file_raises_naming_the_field(data: bytes, reason: str) -> None:
    with pytest.raises(OtomlError, match=reason):
        loads(data, now=NOW)


def test_a_file_of_another_node_is_refused() -> None:
    with pytest.raises(OtomlError, match="belongs to 'node-b'"):
        loads(GOOD, now=NOW, expect_node="node-b")


def test_batch_path_is_per_node_and_hour() -> None:
    assert batch_path("node-a", HOUR) == "nodes/node-a/usage_2026-11-21-14.otoml"
