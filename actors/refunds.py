"""apply_refund and credit_failed_refund: provider refunds debited once, failures given back.

Stripe reports a refund in two shapes: the charge with its ``refunds`` list, or only the
cumulative ``amount_refunded``. Both become one number, the charge's gross refunded total,
and a delivery debits only what that total exceeds what was already taken for the payment
(its ``PaymentEvent`` row locked, each step unique by the total it reaches). So any mix of
shapes, orders and repeats debits each cent once. A refund that fails is credited back once,
by refund id. A refund never takes more than what remains of its payment: the excess is
parked for an operator with an alert.
"""

from __future__ import annotations

from typing import Any

import structlog

from actors import RETRY_POLICY, actor
from actors.alerts import raise_alert
from actors.ledger import post
from actors.payments import PermanentPaymentError, _from_unix, _park, insert_event
from actors.refund_state import RefundState, check_amount, check_id, restamp_first_paid
from models import PaymentEvent, write_transaction
from wire.times import utcnow

log = structlog.get_logger("hero.refunds")

#: Refund statuses after which the money is back with the merchant (credited back).
FAILED_STATUSES = ("failed", "canceled")


def debit_refund(
    *,
    provider: str,
    payment_key: str,
    charge_id: str,
    amount_refunded_cents: int,
    refunds: list[dict[str, Any]] | None,
    refunded_at: int,
    event_id: str | None = None,
) -> str:
    """Bring a payment's refund debits up to the charge's gross refunded total.

    The total is the sum of every listed refund (*refunds*, ``[{"id", "amount_cents",
    "status"}]``, complete) or, without a list, *amount_refunded_cents*; the larger when
    both are known. Listed refunds that failed or were canceled are then credited back.

    Returns:
        ``"debited"``, ``"duplicate"``, ``"unmatched"`` (payment unknown, parked) or
        ``"over_refund"`` (more than the payment; the excess parked, with an alert).

    Raises:
        PermanentPaymentError: an amount or id that is not in bounds.
    """
    check_id("payment_key", payment_key)
    check_amount("amount_refunded_cents", amount_refunded_cents, minimum=0)
    listed = [_listed(i, r) for i, r in enumerate(refunds)] if refunds is not None else None
    target = amount_refunded_cents
    if listed is not None:
        target = max(target, sum(r["amount_cents"] for r in listed))
    payload = {
        "provider": provider,
        "payment_key": payment_key,
        "charge_id": charge_id,
        "amount_refunded_cents": amount_refunded_cents,
        "refunds": refunds,
        "refunded_at": refunded_at,
        "event_id": event_id,
    }
    with write_transaction():
        payment = _locked_payment(provider, payment_key)
        if payment is None:
            _park(
                "refund",
                f"{provider}:{charge_id}:{target}",
                None,
                f"refund of unknown or unmatched payment {payment_key}",
                payload,
            )
            return "unmatched"
        state = RefundState.of(payment)
        outcome = _debit_up_to(state, target, charge_id, refunded_at, event_id, payload)
        for refund in listed or []:
            if refund["status"] in FAILED_STATUSES:
                _credit_back(state.reread(), refund["id"], refund["amount_cents"], event_id)
        restamp_first_paid(state.account_id)
    return outcome


def _debit_up_to(
    state: RefundState,
    target: int,
    charge_id: str,
    refunded_at: int,
    event_id: str | None,
    payload: dict[str, Any],
) -> str:
    payment = state.payment
    delta = target - state.gross_cents
    if delta <= 0:
        return "duplicate"
    allowed = min(delta, max(state.remaining_cents, 0))
    excess = delta - allowed
    mark = f"{payment.key}:{target}"
    common: dict[str, Any] = {
        "provider": payment.provider,
        "address": payment.address,
        "account": payment.account_id,
        "currency": payment.currency,
        "payment_key": payment.key,
        "occurred_at": _from_unix(refunded_at),
        "status": "applied",
        "event_id": event_id,
        "received_at": utcnow(),
    }
    if allowed and insert_event(kind="refund", key=mark, amount_cents=allowed, **common):
        post(
            state.account_id,
            amount_cents=-allowed,
            kind="refund",
            ref=f"{payment.provider}:{mark}",
            paid_cents=-allowed,
            details={
                "payment_key": payment.key,
                "charge_id": charge_id,
                "event_id": event_id,
                "refunded_total_cents": target,
            },
        )
        log.info("refund.debited", key=payment.key, amount_cents=allowed, total_cents=target)
    if not excess:
        return "debited"
    insert_event(kind="refund_excess", key=mark, amount_cents=excess, **common)
    reason = (
        f"refunds of {payment.key} reach {target} cents, {excess} cents more than remains "
        f"of the {payment.amount_cents} cent payment; the excess was not debited"
    )
    _park("refund_excess", f"{payment.provider}:{mark}", payment.address, reason, payload)
    raise_alert("refund_over_payment", payment.key, reason, payload)
    return "over_refund"


def credit_back_refund(
    *,
    provider: str,
    payment_key: str,
    refund_id: str,
    amount_cents: int,
    failed_at: int,
    event_id: str | None = None,
) -> str:
    """Give back a refund that failed, once by *refund_id*.

    A failure whose refund was not debited yet (the events crossed) is parked and applied
    when the debit has landed (``hero-admin unmatched retry`` or the hourly retry).

    Returns:
        ``"credited"``, ``"duplicate"`` or ``"unmatched"``.

    Raises:
        PermanentPaymentError: an amount or id that is not in bounds.
    """
    check_id("payment_key", payment_key)
    check_id("refund_id", refund_id)
    check_amount("amount_cents", amount_cents)
    with write_transaction():
        payment = _locked_payment(provider, payment_key)
        state = RefundState.of(payment) if payment is not None else None
        if state is not None and state.failed_known(refund_id):
            return "duplicate"
        if state is None or state.net_debited_cents < amount_cents:
            why = (
                f"failed refund {refund_id} of unknown or unmatched payment {payment_key}"
                if state is None
                else f"failed refund {refund_id}: its debit has not been seen yet"
            )
            _park("refund", f"{provider}:failed:{refund_id}", None, why, {
                "provider": provider, "payment_key": payment_key, "refund_id": refund_id,
                "amount_cents": amount_cents, "failed_at": failed_at, "event_id": event_id,
            })  # fmt: skip
            return "unmatched"
        outcome = _credit_back(state, refund_id, amount_cents, event_id)
        restamp_first_paid(state.account_id)
    return outcome


def _credit_back(
    state: RefundState, refund_id: str, amount_cents: int, event_id: str | None
) -> str:
    payment = state.payment
    amount = min(amount_cents, state.net_debited_cents)
    inserted = amount > 0 and insert_event(
        provider=payment.provider,
        kind="refund_failed",
        key=refund_id,
        address=payment.address,
        account=payment.account_id,
        amount_cents=amount,
        currency=payment.currency,
        payment_key=payment.key,
        occurred_at=utcnow(),
        status="applied",
        event_id=event_id,
        received_at=utcnow(),
    )
    if not inserted:
        return "duplicate"
    post(
        state.account_id,
        amount_cents=amount,
        kind="refund",
        ref=f"{payment.provider}:refund_failed:{refund_id}",
        paid_cents=amount,
        details={"payment_key": payment.key, "refund_id": refund_id, "failed": True},
    )
    log.info("refund.credited_back", key=payment.key, refund_id=refund_id, amount_cents=amount)
    return "credited"


def _locked_payment(provider: str, payment_key: str) -> PaymentEvent | None:
    """The applied payment row of *payment_key*, locked on PostgreSQL (SQLite's write
    transaction already holds the only lock); None when unknown or unmatched."""
    query = PaymentEvent.select().where(
        (PaymentEvent.provider == provider)
        & (PaymentEvent.kind == "payment")
        & (PaymentEvent.key == payment_key)
    )
    if PaymentEvent._meta.database.obj.for_update:
        query = query.for_update()
    payment = query.first()
    return payment if payment is not None and payment.account_id is not None else None


def _listed(index: int, refund: object) -> dict[str, Any]:
    if not isinstance(refund, dict):
        raise PermanentPaymentError(f"refunds[{index}]: not an object")
    return {
        "id": check_id(f"refunds[{index}].id", refund.get("id")),
        "amount_cents": check_amount(f"refunds[{index}].amount_cents", refund.get("amount_cents")),
        "status": str(refund.get("status", "succeeded")),
    }


def _refused(actor: str, exc: PermanentPaymentError, message: dict[str, Any]) -> None:
    raise_alert("payment_refused", actor, str(exc), message)
    log.warning("refund.refused", actor=actor, reason=str(exc))


@actor(queue_name="payments", throws=(PermanentPaymentError,), **RETRY_POLICY)
def apply_refund(
    provider: str,
    payment_key: str,
    charge_id: str,
    amount_refunded_cents: int,
    refunds: list[dict[str, Any]] | None,
    refunded_at: int,
    event_id: str | None = None,
) -> str:
    """Debit a provider refund from the account it was paid into, once."""
    message = dict(provider=provider, payment_key=payment_key, charge_id=charge_id,
                   amount_refunded_cents=amount_refunded_cents, refunds=refunds,
                   refunded_at=refunded_at, event_id=event_id)  # fmt: skip
    try:
        return debit_refund(**message)  # type: ignore[arg-type]
    except PermanentPaymentError as exc:
        _refused("apply_refund", exc, message)
        raise


@actor(queue_name="payments", throws=(PermanentPaymentError,), **RETRY_POLICY)
def credit_failed_refund(
    provider: str,
    payment_key: str,
    refund_id: str,
    amount_cents: int,
    failed_at: int,
    event_id: str | None = None,
) -> str:
    """Give back a refund that failed, once."""
    message = dict(provider=provider, payment_key=payment_key, refund_id=refund_id,
                   amount_cents=amount_cents, failed_at=failed_at, event_id=event_id)  # fmt: skip
    try:
        return credit_back_refund(**message)  # type: ignore[arg-type]
    except PermanentPaymentError as exc:
        _refused("credit_failed_refund", exc, message)
        raise
