"""parse_cents / format_cents: dollars text at the edges, integer cents inside."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import models.money
from models.money import format_cents, parse_cents


def test_money_doctests_pass() -> None:
    assert doctest.testmod(models.money).failed == 0


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12.34", 1234),
        ("12", 1200),
        ("12.5", 1250),
        ("0.01", 1),
        ("0", 0),
        (" 7.00 ", 700),
        ("$5", 500),
        ("1.230", 123),
    ],
)
def test_parse_cents_reads_dollars(text: str, cents: int) -> None:
    assert parse_cents(text) == cents


@pytest.mark.parametrize(("text", "cents"), [("-0.5", -50), ("-12.34", -1234)])
def test_parse_cents_reads_negative_amounts(text: str, cents: int) -> None:
    assert parse_cents(text) == cents


@pytest.mark.parametrize(("text", "cents"), [("1,234.56", 123456), ("$1,000,000", 100000000)])
def test_parse_cents_accepts_thousands_separators(text: str, cents: int) -> None:
    assert parse_cents(text) == cents


@pytest.mark.parametrize("text", ["0.001", "12.345", "-0.005", "1.2301"])
def test_parse_cents_refuses_sub_cent_amounts(text: str) -> None:
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        parse_cents(text)


@pytest.mark.parametrize("text", ["", "abc", "12.3.4", "NaN", "Infinity", "-inf", "1 2", "$"])
def test_parse_cents_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_cents(text)


def test_parse_cents_refuses_none() -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_cents(None)  # type: ignore[arg-type]


def test_parse_cents_refuses_a_huge_exponent_with_value_error() -> None:
    with pytest.raises(ValueError):
        parse_cents("1e999999999")


@pytest.mark.parametrize("text", ["5,50", "1,2,3", ",5"])
def test_parse_cents_refuses_misplaced_thousands_separators(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cents(text)


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (5, "$0.05"),
        (100, "$1.00"),
        (123456, "$1,234.56"),
        (-5, "-$0.05"),
        (-123456, "-$1,234.56"),
    ],
)
def test_format_cents_writes_dollars_with_sign_and_two_decimals(cents: int, text: str) -> None:
    assert format_cents(cents) == text


#: Largest balance a BigIntegerField column holds, in cents.
BIGINT_MAX = 2**63 - 1


@given(st.integers(min_value=0, max_value=BIGINT_MAX))
def test_format_then_parse_round_trips_for_non_negative_cents(cents: int) -> None:
    assert parse_cents(format_cents(cents)) == cents


@given(st.integers(min_value=-BIGINT_MAX - 1, max_value=-1))
def test_format_then_parse_round_trips_for_negative_cents(cents: int) -> None:
    assert parse_cents(format_cents(cents)) == cents


def test_format_then_parse_round_trips_for_cents_beyond_28_digits() -> None:
    cents = 10**28 + 1
    assert parse_cents(format_cents(cents)) == cents
