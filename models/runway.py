"""Spending rate and runway: how fast an account's credit goes and how long it lasts.

The rate counts usage only, over the last ``RATE_DAYS`` days: a plan is bought once for its
period and says nothing about how fast credit goes. The low-balance email
(``actors.runway``) and the web pages both read them here.
"""

from __future__ import annotations

import datetime as dt

import peewee

from models import LedgerEntry

#: Days of usage the spending rate and the runway are computed over.
RATE_DAYS = 7


def runway_days(balance_cents: int, spent_cents: int, *, days: int = RATE_DAYS) -> int | None:
    """Whole days *balance_cents* lasts at the rate of *spent_cents* per *days* days.

    None when nothing was spent (no rate to go by) or nothing is left to spend.

    >>> runway_days(1000, 700)
    10
    >>> runway_days(1000, 0) is None
    True
    >>> runway_days(-5, 700) is None
    True
    """
    if spent_cents <= 0 or balance_cents <= 0:
        return None
    return balance_cents * days // spent_cents


def daily_rate_cents(spent_cents: int, *, days: int = RATE_DAYS) -> int:
    """Cents a day, rounded to the nearest cent, of *spent_cents* over *days* days.

    >>> daily_rate_cents(700)
    100
    >>> daily_rate_cents(4)
    1
    """
    return (max(spent_cents, 0) * 2 + days) // (2 * days)


def usage_spent_cents(account_id: int, *, now: dt.datetime, days: int = RATE_DAYS) -> int:
    """What usage cost *account_id* in the *days* days up to naive UTC *now*."""
    total = (
        LedgerEntry.select(peewee.fn.COALESCE(peewee.fn.SUM(LedgerEntry.amount_cents), 0))
        .where(
            (LedgerEntry.account == account_id)
            & (LedgerEntry.kind == "usage")
            & (LedgerEntry.created_at > now - dt.timedelta(days=days))
        )
        .scalar()
    )
    return -int(total or 0)
