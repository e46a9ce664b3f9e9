"""reconcile_clickpesa_topups: re-query waiting ClickPesa top-ups, backing off each one.

A top-up still ``started`` is re-queried 10 minutes after it began, then 30 minutes,
1 hour and 3 hours after each check, then every 6 hours, for at most 3 days; checks
stop early once ClickPesa has known no payment for it for a day (the checkout was
abandoned). One abandoned checkout thus costs about 8 calls in all, not 144 a day.
The schedule lives in ``PaymentCheck`` so every worker shares it; re-queries are
metered on reconciliation's share of the daily budget (``actors.clickpesa_budget``).
"""

from __future__ import annotations

import datetime as dt

import peewee
import structlog

from actors import RETRY_POLICY, actor, clickpesa
from actors.deps import current
from actors.payments import PermanentPaymentError
from adapters.payments.clickpesa_limits import CallBudgetExhausted
from models import TopUp
from models.clickpesa import PaymentCheck
from models.errors import PaymentError

log = structlog.get_logger("hero.clickpesa")

#: Waits before each re-query of a top-up: the first counts from its start.
BACKOFF = (
    dt.timedelta(minutes=10),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=1),
    dt.timedelta(hours=3),
)
#: The wait between re-queries once BACKOFF is used up.
BACKOFF_EVERY = dt.timedelta(hours=6)
#: Started top-ups older than this are no longer re-queried (expired).
RECONCILE_UNTIL = dt.timedelta(days=3)
#: A top-up ClickPesa still knows no payment for this long after it started is abandoned.
ABANDONED_AFTER = dt.timedelta(days=1)
#: Re-queries in one run at most (the scheduler runs every 10 minutes).
MAX_PER_RUN = 20


def wait_after(attempts: int) -> dt.timedelta:
    """How long after check number *attempts* (0: the start) the next one is due.

    >>> [str(wait_after(n)) for n in range(6)]
    ['0:10:00', '0:30:00', '1:00:00', '3:00:00', '6:00:00', '6:00:00']
    """
    return BACKOFF[attempts] if attempts < len(BACKOFF) else BACKOFF_EVERY


def after_check(
    *, attempts: int, outcome: str, started: dt.datetime, now: dt.datetime
) -> tuple[dt.datetime, str | None]:
    """When the next check of a top-up is due after this one, and why it stops (if it does).

    *attempts* counts this check.

    >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> after_check(attempts=1, outcome="unknown", started=t0, now=t0 + dt.timedelta(minutes=10))
    (datetime.datetime(2026, 1, 1, 0, 40, tzinfo=datetime.timezone.utc), None)
    >>> after_check(attempts=8, outcome="unknown", started=t0, now=t0 + dt.timedelta(days=1))[1]
    'abandoned'
    """
    stopped = "abandoned" if outcome == "unknown" and now - started >= ABANDONED_AFTER else None
    return now + wait_after(attempts), stopped


def _due(now: dt.datetime) -> list[tuple[str, dt.datetime, int | None]]:
    """Waiting ClickPesa top-ups whose next check is due at *now*, most overdue first."""
    due_at = peewee.fn.COALESCE(PaymentCheck.next_check_at, TopUp.created_at)
    query = (
        TopUp.select(TopUp.public_id, TopUp.created_at, PaymentCheck.attempts)
        .join(
            PaymentCheck,
            peewee.JOIN.LEFT_OUTER,
            on=(PaymentCheck.topup_public_id == TopUp.public_id),
        )
        .where(
            (TopUp.provider == "clickpesa")
            & (TopUp.status == "started")
            & (TopUp.created_at > now - RECONCILE_UNTIL)
            & (TopUp.created_at <= now - BACKOFF[0])
            & PaymentCheck.stopped.is_null()
            & (PaymentCheck.next_check_at.is_null() | (PaymentCheck.next_check_at <= now))
        )
        .order_by(due_at, TopUp.id)
        .limit(MAX_PER_RUN)
        .tuples()
    )
    rows: list[tuple[str, dt.datetime, int | None]] = list(query.execute())
    return rows


def _record(
    public_id: str, attempts: int, outcome: str, started: dt.datetime, now: dt.datetime
) -> None:
    next_at, stopped = after_check(attempts=attempts, outcome=outcome, started=started, now=now)
    fields = {"attempts": attempts, "next_check_at": next_at, "last_outcome": outcome}
    PaymentCheck.insert(topup_public_id=public_id, stopped=stopped, **fields).on_conflict(
        conflict_target=[PaymentCheck.topup_public_id], update={**fields, "stopped": stopped}
    ).execute()
    if stopped:
        log.info("clickpesa.reconcile_stopped", order_reference=public_id, reason=stopped)


@actor(queue_name="payments", **RETRY_POLICY)
def reconcile_clickpesa_topups() -> dict[str, int]:
    """Periodic: re-query the waiting top-ups that are due, so a payment whose webhook
    never came (or whose confirmation gave up while it was pending) is credited anyway.

    Stops the run when ClickPesa is away or reconciliation's budget share is used up;
    an unusable record is counted and the run goes on.
    """
    deps = current()
    if deps.clickpesa is None:
        return {}
    now = dt.datetime.fromtimestamp(deps.clock(), dt.UTC)
    counts: dict[str, int] = {}
    for public_id, started, done in _due(now):
        attempts = (done or 0) + 1
        try:
            outcome = clickpesa.settle(public_id, background=True)
        except CallBudgetExhausted:
            counts["budget_exhausted"] = 1
            break
        except PermanentPaymentError as exc:
            log.error("clickpesa.reconcile_unusable", order_reference=public_id, error=str(exc))
            outcome = "unusable"
        except PaymentError as exc:  # ClickPesa away: the next run tries again
            log.warning("clickpesa.reconcile_interrupted", error=str(exc))
            break
        _record(public_id, attempts, outcome, started, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    log.info("clickpesa.reconciled", **counts)
    return counts
