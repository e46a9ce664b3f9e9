"""The one rule set for usage records: bounds, formats and enumerations, node and service."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import InvalidAddress
from wire import rules
from wire.address import canonical_address
from wire.rules import (
    MAX_AMOUNT_CENTS,
    MAX_QUANTITY,
    RecordError,
    format_time,
    parse_time,
    validate_record,
)

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
GOOD: dict[str, Any] = {
    "key": "node-a:7",
    "node": "node-a",
    "user": USER,
    "resource_kind": "llm_token",
    "applies_to": "llm",
    "quantity": 1200,
    "amount_cents": 3,
    "occurred_at": "2026-11-21T14:03:10Z",
}


def test_a_good_record_is_accepted() -> None:
    record = validate_record(GOOD, now=NOW)
    assert (record.key, record.quantity, record.amount_cents) == ("node-a:7", 1200, 3)


def test_the_maxima_themselves_are_accepted() -> None:
    raw = {**GOOD, "amount_cents": MAX_AMOUNT_CENTS, "quantity": MAX_QUANTITY}
    record = validate_record(raw, now=NOW)
    assert (record.amount_cents, record.quantity) == (10_000_000, 10**12)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"amount_cents": MAX_AMOUNT_CENTS + 1}, "amount_cents", "more than the maximum"),
        ({"amount_cents": 10**30}, "amount_cents", "more than the maximum"),
        ({"amount_cents": -1}, "amount_cents", "negative"),
        ({"amount_cents": 3.0}, "amount_cents", "integer"),
        ({"quantity": MAX_QUANTITY + 1}, "quantity", "more than the maximum"),
        ({"quantity": True}, "quantity", "integer"),
        ({"occurred_at": "2019-12-31T23:59:59Z"}, "occurred_at", "before 2020-01-01"),
        ({"occurred_at": "0999-01-01T00:00:00Z"}, "occurred_at", "years 2000..9999"),
        ({"occurred_at": "2026-11-21T14:40:01Z"}, "occurred_at", "10 minutes ahead"),
        ({"occurred_at": "2026-11-21T4:03:10Z"}, "occurred_at", "RFC 3339"),
        ({"occurred_at": "2026-13-21T14:03:10Z"}, "occurred_at", "not a valid date"),
        ({"occurred_at": "9999-12-31T23:59:59-01:00"}, "occurred_at", "out of range"),
        ({"occurred_at": "２０２６-11-21T14:03:10Z"}, "occurred_at", "RFC 3339"),
        ({"occurred_at": "99999999999999999999"}, "occurred_at", "RFC 3339"),
        ({"key": "node-a:١٢٣"}, "key", "<node>:<seq>"),
        ({"key": "node-a:1234567890123456789"}, "key", "<node>:<seq>"),
        ({"key": "node-b:1"}, "key", "<node>:<seq>"),
        ({"node": "Node-A", "key": "Node-A:1"}, "node", "not a node name"),
        ({"node": "nodeｘ", "key": "nodeｘ:1"}, "node", "not a node name"),
        ({"user": "10.0.0.1"}, "user", "IPv4"),
        ({"user": "2001:db8::1"}, "user", "400::/7"),
        ({"user": "520::1%eth0"}, "user", "not a Mycelium address"),
        ({"user": 5}, "user", "text"),
        ({"resource_kind": "gpu"}, "resource_kind", "not one of"),
        ({"resource_kind": ["vm_hour"]}, "resource_kind", "not one of"),
        ({"applies_to": "storage"}, "applies_to", "not one of"),
    ],
)
def test_out_of_bounds_is_refused_naming_the_field(
    change: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(RecordError, match=f"^{field}: ") as caught:
        validate_record({**GOOD, **change}, now=NOW)
    assert problem in str(caught.value)
    assert len(str(caught.value)) < 300


def test_a_batch_node_is_enforced() -> None:
    with pytest.raises(RecordError, match="^node: 'node-a' in a batch of node 'node-b'"):
        validate_record(GOOD, node="node-b", now=NOW)


def test_times_are_written_with_a_four_digit_year() -> None:
    assert format_time(dt.datetime(999, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "0999-01-02T03:04:05Z"


def test_quoted_unix_seconds_and_fractions_are_read() -> None:
    assert parse_time("1795269600", "t") == dt.datetime(2026, 11, 21, 14, tzinfo=dt.UTC)
    assert parse_time("2026-11-21T14:00:00.123456789Z", "t").microsecond == 123456


@given(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.floats()))
def test_parse_time_raises_only_record_error(value: object) -> None:
    try:
        parsed = parse_time(value, "t")
    except RecordError as exc:
        assert str(exc).startswith("t: ")
    else:
        assert 2000 <= parsed.year <= 9999 and parsed.tzinfo is not None


@given(st.dictionaries(st.sampled_from(sorted(GOOD)), st.from_type(object), max_size=8))
def test_any_fields_give_a_record_or_a_record_error(change: dict[str, Any]) -> None:
    try:
        validate_record({**GOOD, **change}, now=NOW)
    except RecordError as exc:
        assert str(exc).split(":", 1)[0] in {*GOOD, "record"}


@given(
    st.one_of(
        st.ip_addresses(v=6).map(str),
        st.integers(0x0400 << 112, (0x0600 << 112) - 1).map(
            lambda n: str(__import__("ipaddress").IPv6Address(n)).upper()
        ),
        st.text(max_size=45),
    )
)
def test_user_rule_agrees_with_the_login_address_rule(text: str) -> None:
    try:
        expected: str | None = canonical_address(text)
    except InvalidAddress:
        expected = None
    try:
        got: str | None = rules.canonical_user(text)
    except RecordError:
        got = None
    if got is not None:
        assert got == expected
    elif expected is not None:
        # Only stricter on text no Mycelium node writes: padding or non-ASCII around it.
        assert text != text.strip() or not text.isascii() or len(text) > 64


def test_the_service_uses_the_same_enumerations() -> None:
    from models import usage

    assert usage.RESOURCE_KINDS is rules.RESOURCE_KINDS
    assert usage.CATEGORIES is rules.CATEGORIES


def test_the_rules_import_neither_the_database_nor_the_settings() -> None:
    code = (
        "import sys, wire.rules, node_agent.records;"
        "bad = {'peewee', 'settings', 'models'} & set(sys.modules);"
        "sys.exit(f'imported {sorted(bad)}' if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _outcome(value: str) -> dt.datetime | str:
    try:
        return parse_time(value, "t")
    except RecordError as exc:
        return str(exc).replace(repr(value), "<v>")


@given(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + "Z"
    )
    | st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
)
def test_the_short_utc_form_reads_as_the_same_time_with_an_offset(value: str) -> None:
    # "...Z" (how every record is written) takes a quick path; "+00:00" the general one.
    assert _outcome(value) == _outcome(value[:-1] + "+00:00")


@given(
    st.sampled_from(["node-a", "n", "a_b-9"]),
    st.text(max_size=24) | st.from_regex(r"\A:[0-9\u0660-\u0669a]{0,20}\n?\Z"),
)
def test_a_key_is_its_node_a_colon_and_one_to_18_ascii_digits(node: str, rest: str) -> None:
    import re

    key = node + rest
    expected = re.fullmatch(rf"{re.escape(node)}:[0-9]{{1,18}}", key, re.ASCII) is not None
    try:
        validate_record({**GOOD, "node": node, "key": key}, now=NOW)
    except RecordError as exc:
        assert not expected and str(exc).startswith("key: ")
    else:
        assert expected
