"""The chaos run's credit check: the oracle's own states, and what counts as a mismatch
(a test of the chaos package, kept inside it: nothing outside imports the package)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.chaos.credit import FLOOR_CENTS, key_of, mismatches
from tests.chaos.oracle import Oracle, credit_state

A = "400::1"
B = "500::2"


def oracle_of(balance_a: int, balance_b: int) -> Oracle:
    oracle = Oracle()
    paid = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    oracle.founding_payment(A, "pi_a", 1, paid)
    oracle.adjustment(A, balance_a - 1)
    oracle.adjustment(B, balance_b)
    return oracle


def value(state: str, balance: int, allowance: int = 0, seq: int = 3) -> dict[str, Any]:
    return {
        "state": state,
        "balance_cents": balance,
        "floor_cents": FLOOR_CENTS,
        "allowance_cents": allowance,
        "seq": seq,
    }


@pytest.mark.parametrize(
    ("balance", "allowance", "low", "state"),
    [
        (500, 0, 500, "ok"),
        (499, 0, 500, "low"),
        (1_500, 0, 2_000, "low"),
        (FLOOR_CENTS + 1, 0, 500, "low"),
        (FLOOR_CENTS, 0, 500, "exhausted"),
        (FLOOR_CENTS - 100, 200, 500, "low"),
        (FLOOR_CENTS - 200, 200, 500, "exhausted"),
    ],
)
def test_the_oracle_classifies_against_floor_allowance_and_threshold(
    balance: int, allowance: int, low: int, state: str
) -> None:
    assert (
        credit_state(balance, floor_cents=FLOOR_CENTS, allowance_cents=allowance, low_cents=low)
        == state
    )


def test_a_bucket_that_holds_the_oracles_states_matches() -> None:
    oracle = oracle_of(10_000, FLOOR_CENTS)
    held = {key_of(A): value("ok", 10_000), key_of(B): value("exhausted", FLOOR_CENTS)}
    assert mismatches(held, oracle) == []


def test_threshold_and_allowance_of_the_run_change_the_expected_state() -> None:
    oracle = oracle_of(1_500, FLOOR_CENTS - 100)
    oracle.threshold(A, 2_000)
    oracle.allowance(B, 200)
    held = {key_of(A): value("ok", 1_500), key_of(B): value("low", FLOOR_CENTS - 100, 200)}
    assert [m.split(" ")[0] for m in mismatches(held, oracle)] == [A]


@pytest.mark.parametrize(
    "held_b",
    [
        value("low", FLOOR_CENTS),  # wrong state
        value("exhausted", FLOOR_CENTS - 1),  # an older balance
        value("suspended", FLOOR_CENTS),  # suspended although the run never lets it be
        {**value("exhausted", FLOOR_CENTS), "floor_cents": 0},  # another floor
        b"not json",
        None,  # never published
    ],
)
def test_every_difference_is_a_mismatch_of_that_account(held_b: Any) -> None:
    oracle = oracle_of(10_000, FLOOR_CENTS)
    held = {key_of(A): value("ok", 10_000)}
    if held_b is not None:
        held[key_of(B)] = held_b
    wrong = mismatches(held, oracle)
    assert len(wrong) == 1 and wrong[0].startswith(B), wrong


def test_a_key_of_no_account_of_the_run_is_a_mismatch() -> None:
    oracle = oracle_of(10_000, 10_000)
    held = {key_of(a): value("ok", 10_000) for a in (A, B, "400::9")}
    assert mismatches(held, oracle) == [
        f"{key_of('400::9')}: in the bucket for no account of the run"
    ]
