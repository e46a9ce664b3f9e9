"""confirm_clickpesa_payment: a verified ClickPesa webhook, re-queried, credited once.

The webhook only says "look at order X". What is credited comes from ClickPesa's own
answer to ``GET /payments/{orderReference}``, read by ``decide`` (pure) and applied by
``credit_payment`` (idempotent by provider and order reference).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq
import structlog

from actors import RETRY_POLICY, actor
from actors.alerts import raise_alert
from actors.deps import current
from actors.payments import (
    PaymentFact,
    PermanentPaymentError,
    credit_payment,
    record_payment_failure,
)
from adapters.payments.clickpesa_webhook import BadAmount, checkout_currency, collected_cents
from models import TopUp
from models.errors import PaymentError
from wire.times import as_utc

if TYPE_CHECKING:
    from adapters.payments.clickpesa import ClickPesaProvider

log = structlog.get_logger("hero.clickpesa")

#: Payment statuses that mean the money was collected.
PAID_STATUSES = ("SUCCESS", "SETTLED")
#: How long after a payment's ``createdAt`` a missing TopUp row is waited for, in seconds;
#: after that the payment is credited without an address, so it is parked, never dropped.
#: Kept well inside what RETRY_POLICY's backoff covers (12 retries, at least ~10 min).
TOPUP_GRACE_S = 300


@dataclass(frozen=True)
class Credit:
    """ClickPesa collected the money: credit it."""

    amount_cents: int
    currency: str
    paid_at: int  # Unix seconds, ClickPesa's createdAt
    payment_id: str
    #: Further collected payments under the same order reference (not credited; logged).
    extra_payment_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failed:
    """Every payment attempt failed: mark the top-up failed, credit nothing."""

    reason: str


@dataclass(frozen=True)
class Wait:
    """Nothing final yet (processing, pending, or not visible): ask again later."""

    reason: str


def decide(payments: Sequence[Mapping[str, Any]]) -> Credit | Failed | Wait:
    """What ClickPesa's records of one order reference mean for the ledger.

    A collected payment (SUCCESS or SETTLED) wins over any failed or pending attempt;
    failure needs every attempt FAILED; anything else (no records, PROCESSING,
    PENDING, an unknown status) is a wait.

    >>> decide([{"id": "P1", "status": "SUCCESS", "collectedAmount": "25.00",
    ...          "collectedCurrency": "USD", "createdAt": "2026-01-02T03:04:05Z"}])
    ... # doctest: +NORMALIZE_WHITESPACE
    Credit(amount_cents=2500, currency='USD', paid_at=1767323045, payment_id='P1',
           extra_payment_ids=())
    >>> decide([{"status": "FAILED"}, {"status": "PROCESSING"}])
    Wait(reason='status PROCESSING')

    Raises:
        PermanentPaymentError: a collected payment has no usable amount, currency or time.
    """
    paid = sorted(
        (p for p in payments if p.get("status") in PAID_STATUSES),
        key=lambda p: (str(p.get("createdAt")), str(p.get("id"))),
    )
    if paid:
        first = paid[0]
        return Credit(
            amount_cents=amount_cents(first.get("collectedAmount")),
            currency=_currency(first.get("collectedCurrency")),
            paid_at=unix_seconds(first.get("createdAt")),
            payment_id=str(first.get("id") or ""),
            extra_payment_ids=tuple(str(p.get("id")) for p in paid[1:]),
        )
    if not payments:
        return Wait("no payment recorded yet")
    statuses = sorted({str(p.get("status")) for p in payments})
    if statuses == ["FAILED"]:
        return Failed(f"ClickPesa reports {len(payments)} failed attempt(s)")
    return Wait("status " + ",".join(s for s in statuses if s != "FAILED"))


def should_wait_for_topup(*, paid_at: int, now_s: float) -> bool:
    """Whether a payment whose TopUp row is missing is still young enough to wait for it.

    >>> should_wait_for_topup(paid_at=1_000, now_s=1_299), should_wait_for_topup(
    ...     paid_at=1_000, now_s=1_300)
    (True, False)
    """
    return now_s - paid_at < TOPUP_GRACE_S


def amount_cents(value: object) -> int:
    """ClickPesa's ``collectedAmount`` (dollars, at most 2 decimals) in exact cents.

    >>> amount_cents("25.00"), amount_cents("0.1"), amount_cents("1000")
    (2500, 10, 100000)

    Raises:
        PermanentPaymentError: missing, a float, not a plain decimal, finer than a cent,
            negative, or above ``MAX_PAYMENT_CENTS``.
    """
    try:
        return collected_cents(value)
    except BadAmount as exc:
        raise PermanentPaymentError(str(exc)) from None


def unix_seconds(value: object) -> int:
    """An ISO 8601 time (UTC when it names no zone) as whole Unix seconds.

    >>> unix_seconds("2026-01-02T03:04:05.999Z"), unix_seconds("2026-01-02T06:04:05+03:00")
    (1767323045, 1767323045)

    Raises:
        PermanentPaymentError: missing or not ISO 8601.
    """
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise PermanentPaymentError(f"createdAt: not an ISO 8601 time: {value!r}") from None
    return int(as_utc(when).timestamp())


def _currency(value: object) -> str:
    try:
        return checkout_currency(value)
    except BadAmount as exc:
        raise PermanentPaymentError(str(exc)) from None


def _configured() -> ClickPesaProvider:
    provider = current().clickpesa
    if provider is None:
        raise PaymentError("ClickPesa is not configured in this process (HERO_CLICKPESA_*)")
    return provider


#: Outcomes of ``settle`` that mean "ask again later", and why.
WAITING = {
    "pending": "not final yet",
    "unknown": "ClickPesa knows no payment yet",
    "topup_missing": "top-up not recorded yet",
}


def settle(order_reference: str, *, background: bool = False) -> str:
    """Re-query ClickPesa for *order_reference* and credit or fail it accordingly.

    Args:
        background: a reconciliation re-query (metered on the smaller budget share).

    Returns:
        ``"credited"``, ``"duplicate"``, ``"unmatched"`` (parked), ``"failed"``, or one
        of WAITING: ``"pending"`` (not final), ``"unknown"`` (ClickPesa knows no payment),
        ``"topup_missing"`` (paid, its TopUp row not written yet).

    Raises:
        ProviderUnavailable: ClickPesa could not be reached, or the budget is used up.
        PermanentPaymentError: ClickPesa's record can never be credited; an operator
            alert names it.
    """
    payments = _configured().query_payment(order_reference, background=background)
    try:
        decision = decide(payments)
    except PermanentPaymentError as exc:
        raise_alert("clickpesa_unusable", order_reference, f"ClickPesa payment: {exc}")
        raise
    log.info(
        "clickpesa.decided",
        order_reference=order_reference,
        decision=type(decision).__name__.lower(),
    )
    if isinstance(decision, Wait):
        return "pending" if payments else "unknown"
    if isinstance(decision, Failed):
        failed: str = record_payment_failure(
            provider="clickpesa",
            topup_id=order_reference,
            payment_key=order_reference,
            reason=decision.reason,
        )
        return failed
    topup = TopUp.get_or_none(TopUp.public_id == order_reference)
    if topup is None and should_wait_for_topup(paid_at=decision.paid_at, now_s=current().clock()):
        return "topup_missing"
    if decision.extra_payment_ids:
        log.warning(
            "clickpesa.extra_payments",
            order_reference=order_reference,
            payment_ids=list(decision.extra_payment_ids),
        )
    return credit_payment(
        PaymentFact(
            provider="clickpesa",
            payment_key=order_reference,
            address=topup.account.address if topup else None,
            amount_cents=decision.amount_cents,
            currency=decision.currency,
            paid_at=decision.paid_at,
            topup_id=order_reference if topup else None,
            event_id=decision.payment_id or None,
        )
    )


@actor(queue_name="payments", throws=(PermanentPaymentError,), **RETRY_POLICY)
def confirm_clickpesa_payment(order_reference: str, webhook_event: str) -> str:
    """A verified webhook about *order_reference*: settle it from ClickPesa's own record.

    The webhook's own body is never trusted for the amount. While the payment is
    pending, or its TopUp row is not written yet, the message is retried with the
    actor's backoff (``dramatiq.Retry``), at most RETRY_POLICY's ``max_retries`` times;
    the reconciler picks up whatever is still waiting after that.

    Returns:
        ``"credited"``, ``"duplicate"``, ``"unmatched"`` (parked) or ``"failed"``.

    Raises:
        dramatiq.Retry: the payment is not final yet, or its top-up not recorded yet.
        ProviderUnavailable: ClickPesa could not be reached or the budget is used up
            (retried).
        PermanentPaymentError: ClickPesa's record can never be credited (not retried).
    """
    outcome = settle(order_reference)
    log.info("clickpesa.confirmed", order_reference=order_reference, webhook_event=webhook_event)
    if outcome in WAITING:
        raise dramatiq.Retry(f"payment {order_reference}: {WAITING[outcome]}")
    return outcome
