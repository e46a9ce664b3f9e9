"""The OTOML batch codec: round trips, and strict validation naming record and field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.otoml import OtomlError, UsageIn, batch_path, dumps, loads

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


def record(seq: int, **overrides: Any) -> UsageIn:
    values: dict[str, Any] = dict(
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


# Hostile input: only OtomlError escapes; valid batches round-trip.

TOML_KEYS = [
    "format",
    "node",
    "hour",
    "records",
    "key",
    "user",
    "resource_kind",
    "applies_to",
    "quantity",
    "amount_cents",
    "occurred_at",
    "x",
]
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "node-a",
            "2026-11-21T14:00:00Z",
            "node-a:1",
            USER,
            "llm",
            "vm_hour",
            "2026-11-21T14:10:00Z",
            "0999-01-01T00:00:00Z",
            "node-a:١٢٣",
        ]
    ),
    st.datetimes(timezones=st.just(dt.UTC)),
)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(TOML_KEYS), inner, max_size=6),
    ),
    max_leaves=25,
)


def only_otoml_error(data: bytes | str) -> None:
    try:
        batch = loads(data, now=NOW)
    except OtomlError as exc:
        assert str(exc)
    else:
        for rejected in batch.rejected:
            assert rejected.reason.startswith(f"records[{rejected.index}] (")
            assert len(rejected.reason) < 400


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_raise_only_the_codec_error(data: bytes) -> None:
    only_otoml_error(data)


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_any_text_raises_only_the_codec_error(text: str) -> None:
    only_otoml_error(text)


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "format": st.one_of(st.just(1), SCALARS),
            "node": st.one_of(st.just("node-a"), SCALARS),
            "hour": st.one_of(st.just("2026-11-21T14:00:00Z"), SCALARS),
            "records": st.one_of(
                st.lists(st.dictionaries(st.sampled_from(TOML_KEYS), TOML_VALUES), max_size=4),
                TOML_VALUES,
            ),
        },
    )
)
def test_any_toml_document_raises_only_the_codec_error(doc: dict) -> None:
    only_otoml_error(tomli_w.dumps(doc))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"a = " + b"[" * 5000 + b"]" * 5000, "not TOML"),
        (b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000, "not TOML"),
        (b"format = " + b"9" * 5000, "not TOML"),
        (b'format = true\nnode = "node-a"\nhour = "2026-11-21T14:00:00Z"\n', "format: must be 1"),
        (b'format = 1.0\nnode = "node-a"\nhour = "2026-11-21T14:00:00Z"\n', "format: must be 1"),
        (b'format = "1"\nnode = "node-a"\nhour = "2026-11-21T14:00:00Z"\n', "format: must be 1"),
        (b'format = 1\nnode = "node-a"\nhour = "2026-11-21T4:00:00Z"\n', "hour: "),
        (b'format = 1\nnode = "node-a"\nhour = "2026-11-21T24:00:00Z"\n', "hour: "),
        (b'format = 1\nnode = "node-a"\nhour = "999-11-21T14:00:00Z"\n', "hour: "),
        (b'format = 1\nnode = "node-a"\nhour = "99999999999999999999"\n', "hour: "),
        (b'format = 1\nnode = "node-a"\nhour = "0001-01-01T00:00:00+01:00"\n', "hour: "),
        (b'format = 1\nnode = "node-a\\n"\nhour = "2026-11-21T14:00:00Z"\n', "node: "),
    ],
)
def test_hostile_files_raise_the_codec_error(data: bytes, reason: str) -> None:
    with pytest.raises(OtomlError, match=reason):
        loads(data, now=NOW)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("key", '"node-a:١٢٣"', "key: 'node-a:١٢٣'"),
        ("amount_cents", "10000001", "amount_cents: 10000001 is more than the maximum"),
        ("quantity", "1000000000001", "quantity: 1000000000001 is more than the maximum"),
        ("quantity", "9223372036854775807", "quantity: "),
        ("occurred_at", '"2026-11-21T14:10:00.5+99:00"', "occurred_at: "),
    ],
)
def test_an_out_of_bounds_record_rejects_that_record_only(field, value, reason) -> None:
    data = (
        with_record(**{field: value})
        + b"\n"
        + dumps("node-a", HOUR, [record(2)]).split(b"\n\n", 1)[1]
    )
    batch = loads(data, now=NOW)
    assert [r.key for r in batch.records] == ["node-a:2"]
    [rejected] = batch.rejected
    assert rejected.index == 0 and reason in rejected.reason


def test_what_cannot_be_read_back_is_not_written() -> None:
    with pytest.raises(OtomlError, match="years 2000..9999"):
        dumps("node-a", HOUR, [record(1, occurred_at=dt.datetime(999, 1, 1, tzinfo=dt.UTC))])
    with pytest.raises(OtomlError, match="node: "):
        dumps("Node A", HOUR, [])


def test_batch_path_pads_the_year() -> None:
    early = dt.datetime(999, 1, 2, 3, tzinfo=dt.UTC)
    assert batch_path("node-a", early) == "nodes/node-a/usage_0999-01-02-03.otoml"


@st.composite
def valid_batches(draw: st.DrawFn) -> tuple[dt.datetime, list[UsageIn]]:
    hour = draw(
        st.datetimes(
            min_value=dt.datetime(2020, 1, 1),
            max_value=dt.datetime(2026, 11, 21, 14),
            timezones=st.just(dt.UTC),
        )
    ).replace(minute=0, second=0, microsecond=0)
    seqs = draw(st.lists(st.integers(1, 10**18 - 1), unique=True, max_size=8))
    records = [
        UsageIn(
            key=f"node-a:{seq}",
            node="node-a",
            user=draw(st.sampled_from([USER, "4ff::1", "5ff:ffff::"])),
            resource_kind=draw(st.sampled_from(["vm_hour", "llm_token", "hero_os_hour", "other"])),
            applies_to=draw(st.sampled_from(["hero_os_hourly", "llm", "vm"])),
            quantity=draw(st.integers(0, 10**12)),
            amount_cents=draw(st.integers(0, 10_000_000)),
            occurred_at=hour + dt.timedelta(seconds=draw(st.integers(0, 3599))),
        )
        for seq in seqs
    ]
    return hour, records


@given(valid_batches())
def test_a_valid_batch_round_trips(batch: tuple[dt.datetime, list[UsageIn]]) -> None:
    hour, records = batch
    parsed = loads(dumps("node-a", hour, records), now=NOW, expect_node="node-a")
    assert parsed.hour == hour and not parsed.rejected
    assert list(parsed.records) == sorted(records, key=lambda r: r.seq)


@settings(max_examples=300)
@given(st.integers(-7200, 7200), st.sampled_from(["Z", "+00:00", "+01:30", "-02:00"]))
def test_a_record_is_kept_exactly_when_its_time_lies_in_the_files_hour(
    offset_s: int, zone: str
) -> None:
    moment = HOUR + dt.timedelta(seconds=offset_s)
    hours, minutes = (0, 0) if zone in ("Z", "+00:00") else (int(zone[1:3]), int(zone[4:6]))
    shift = dt.timedelta(hours=hours, minutes=minutes) * (-1 if zone.startswith("-") else 1)
    text = (moment + shift).replace(tzinfo=None).isoformat(timespec="seconds") + zone
    data = GOOD.replace(b"2026-11-21T14:03:10Z", text.encode())
    batch = loads(data, now=NOW + dt.timedelta(hours=3))
    inside = moment.replace(minute=0, second=0) == HOUR
    assert len(batch.records) == (1 if inside else 0)
    assert len(batch.rejected) == (0 if inside else 1)
