"""The dashboard's low-balance facts: the user's threshold, the 7-day rate and the runway."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models.accounts import MAX_LOW_BALANCE_CENTS
from models.money import format_cents, parse_cents
from models.runway import RATE_DAYS, daily_rate_cents, runway_days, usage_spent_cents


@dataclass(frozen=True)
class Runway:
    """How long the balance lasts at the rate of the last ``RATE_DAYS`` days."""

    threshold_cents: int
    rate_cents_per_day: int
    #: Whole days left; None with no usage to go by or nothing left.
    days: int | None
    #: The balance is under the threshold (and the warning is on).
    low: bool


def runway_for(
    account_id: int, *, balance_cents: int, threshold_cents: int, now: dt.datetime
) -> Runway:
    """The runway of *account_id* with *balance_cents* at naive UTC *now*."""
    spent = usage_spent_cents(account_id, now=now, days=RATE_DAYS)
    return Runway(
        threshold_cents=threshold_cents,
        rate_cents_per_day=daily_rate_cents(spent),
        days=runway_days(balance_cents, spent),
        low=threshold_cents > 0 and balance_cents < threshold_cents,
    )


#: What the threshold field says when its value is refused.
THRESHOLD_HINT = f"Enter an amount between $0.00 and {format_cents(MAX_LOW_BALANCE_CENTS)}"


def parse_threshold(raw: str) -> int:
    """The threshold field (dollars, e.g. ``"7.50"`` or ``"$7.50"``) in cents.

    >>> parse_threshold("7.50")
    750

    Raises:
        ValueError: in plain words, for the page to show next to the field.
    """
    if not raw.strip():
        raise ValueError(f"{THRESHOLD_HINT}, for example 5.00.")
    try:
        cents = parse_cents(raw)
    except ValueError:
        raise ValueError(f"{THRESHOLD_HINT}, in dollars and cents like 5.00.") from None
    if not 0 <= cents <= MAX_LOW_BALANCE_CENTS:
        raise ValueError(f"{THRESHOLD_HINT}.")
    return cents
