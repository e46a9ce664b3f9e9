"""The discount ladder's pure rules: which tier an account is in, what each tier costs.

The multiplier of a usage record is decided by its own ``occurred_at`` against the
account's ``first_paid_at``, so replaying history gives the same charges whenever it runs.
Multipliers are whole quarters (4 = x1, 2 = x0.5, 1 = x0.25): charges stay exact integers.
The workers (``actors.ladder``, ``actors.usage``) and the web pages both read them here.
"""

from __future__ import annotations

import datetime as dt

#: Multipliers are counted in 1/LADDER_DENOMINATOR.
LADDER_DENOMINATOR = 4
#: Paid tenure at which each tier starts, lowest first.
TIERS: tuple[tuple[str, dt.timedelta], ...] = (
    ("none", dt.timedelta(0)),
    ("week", dt.timedelta(days=7)),
    ("month", dt.timedelta(days=30)),
)
#: Multiplier (in quarters) by tier for the discounted categories; "vm" is always x1.
DISCOUNTED_QUARTERS = {"none": 4, "week": 2, "month": 1}
DISCOUNTED_CATEGORIES = frozenset({"hero_os_hourly", "llm"})


def tier_at(first_paid_at: dt.datetime | None, moment: dt.datetime) -> str:
    """The tier an account is in at *moment* (naive UTC datetimes).

    >>> paid = dt.datetime(2026, 1, 1)
    >>> [tier_at(paid, paid + dt.timedelta(days=d)) for d in (3, 8, 31)]
    ['none', 'week', 'month']
    >>> tier_at(None, paid)
    'none'
    """
    if first_paid_at is None:
        return "none"
    tenure = moment - first_paid_at
    current = "none"
    for name, start in TIERS:
        if tenure >= start:
            current = name
    return current


def multiplier_quarters(tier: str, category: str) -> int:
    """The multiplier of *category* usage in *tier*, in quarters.

    >>> multiplier_quarters("month", "llm"), multiplier_quarters("month", "vm")
    (1, 4)
    """
    if category not in DISCOUNTED_CATEGORIES:
        return LADDER_DENOMINATOR
    return DISCOUNTED_QUARTERS[tier]


def next_tier(first_paid_at: dt.datetime | None, now: dt.datetime) -> tuple[str, int] | None:
    """The next tier and the whole days left until it, or None at the top (or never paid).

    >>> next_tier(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 3))
    ('week', 5)
    """
    if first_paid_at is None:
        return None
    for name, start in TIERS:
        reached_at = first_paid_at + start
        if reached_at > now:
            seconds = (reached_at - now).total_seconds()
            return name, int(-(-seconds // 86400))
    return None
