"""ClickPesa's daily call budget and its token, kept in the database for every process.

Every call to ClickPesa (tokens included) is counted per UTC day in ``ProviderCallDay``
by an atomic conditional increment, so the gateway and every worker share one count.
Checkouts and webhook confirmations may use the whole budget; reconciliation re-queries
only ``RECONCILE_SHARE`` of it, so the calls a paying user waits for are never crowded
out by re-queries nobody waits for. When a share is used up the call is refused
(``CallBudgetExhausted``), logged, and an operator alert is raised once that day.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import structlog

from actors.alerts import raise_alert
from adapters.payments.clickpesa_limits import CallBudgetExhausted
from models import db
from models.clickpesa import ProviderCallDay, ProviderToken

log = structlog.get_logger("hero.clickpesa")

#: ClickPesa's documented limit before its own KYC: calls a day, tokens included.
CLICKPESA_DAILY_LIMIT = 100
#: Share of the daily budget reconciliation re-queries may use.
RECONCILE_SHARE = 0.5
PROVIDER = "clickpesa"


def reconcile_limit(budget: int) -> int:
    """How many of *budget* daily calls reconciliation may make.

    >>> reconcile_limit(90), reconcile_limit(1)
    (45, 0)
    """
    return int(budget * RECONCILE_SHARE)


def take_call(provider: str, day: dt.date, limit: int) -> bool:
    """Count one call on *day* if fewer than *limit* were counted; return whether it was."""
    with db.atomic():
        ProviderCallDay.insert(provider=provider, day=day, calls=0).on_conflict_ignore().execute()
        counted: int = (
            ProviderCallDay.update(calls=ProviderCallDay.calls + 1)
            .where(
                (ProviderCallDay.provider == provider)
                & (ProviderCallDay.day == day)
                & (ProviderCallDay.calls < limit)
            )
            .execute()
        )
    return counted == 1


def calls_on(provider: str, day: dt.date) -> int:
    """How many calls were counted for *provider* on *day*."""
    row = ProviderCallDay.get_or_none(
        (ProviderCallDay.provider == provider) & (ProviderCallDay.day == day)
    )
    return int(row.calls) if row else 0


class DbCallMeter:
    """The daily budget, counted in the database (``HERO_CLICKPESA_DAILY_CALLS``)."""

    def __init__(self, budget: int, *, clock: Callable[[], float] = time.time) -> None:
        self.budget = budget
        self._clock = clock

    def take(self, *, background: bool) -> None:
        day = dt.datetime.fromtimestamp(self._clock(), dt.UTC).date()
        limit = reconcile_limit(self.budget) if background else self.budget
        if take_call(PROVIDER, day, limit):
            return
        kind = "re-queries" if background else "calls"
        message = (
            f"ClickPesa {kind} paused until 00:00 UTC: {limit} of the daily budget of "
            f"{self.budget} calls are used (HERO_CLICKPESA_DAILY_CALLS)"
        )
        log.warning("clickpesa.budget_exhausted", day=day.isoformat(), background=background)
        raise_alert("clickpesa_budget", day.isoformat(), message, {"limit": limit})
        raise CallBudgetExhausted(message)


class DbTokens:
    """ClickPesa's token, shared by every process through the database."""

    def load(self, now: float) -> str | None:
        row = ProviderToken.get_or_none(ProviderToken.provider == PROVIDER)
        if row is None or row.expires_at.timestamp() <= now:
            return None
        return str(row.token)

    def save(self, token: str, expires_at: float) -> None:
        when = dt.datetime.fromtimestamp(expires_at, dt.UTC)
        ProviderToken.insert(provider=PROVIDER, token=token, expires_at=when).on_conflict(
            conflict_target=[ProviderToken.provider],
            update={ProviderToken.token: token, ProviderToken.expires_at: when},
        ).execute()
