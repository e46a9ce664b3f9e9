"""What the low-balance email says about the spending rate and the runway.

The rules and the usage query are ``models.runway`` (the web pages read them too).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from models.runway import RATE_DAYS as RATE_DAYS
from models.runway import daily_rate_cents as daily_rate_cents
from models.runway import runway_days as runway_days
from models.runway import usage_spent_cents


def crossing_payload(
    account_id: int, *, balance_cents: int, threshold_cents: int, now: dt.datetime
) -> dict[str, Any]:
    """What the low-balance email says: balance, threshold, rate and runway."""
    spent = usage_spent_cents(account_id, now=now)
    return {
        "balance_cents": balance_cents,
        "threshold_cents": threshold_cents,
        "rate_cents_per_day": daily_rate_cents(spent),
        "runway_days": runway_days(balance_cents, spent),
    }
