"""What a verified webhook says happened, and the one place facts become messages.

Adapters read a provider's body and return facts; they never choose an actor. The
webhook routes turn each fact into its message with ``message_for``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from messages import (
    ApplyPayment,
    ApplyRefund,
    ConfirmClickpesaPayment,
    CreditFailedRefund,
    Message,
    RecordKycResult,
    RecordPaymentFailure,
)


@dataclass(frozen=True)
class PaymentSettled:
    """A provider says money arrived (Stripe checkout paid, the sandbox's payment)."""

    provider: str
    payment_key: str
    address: str | None
    amount_cents: int
    currency: str
    paid_at: int
    topup_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class PaymentFailed:
    """A provider says a started payment will not arrive."""

    provider: str
    topup_id: str | None
    payment_key: str
    reason: str


@dataclass(frozen=True)
class ChargeRefunded:
    """A provider says a charge is refunded: the cumulative amount, the refunds if listed."""

    provider: str
    payment_key: str
    charge_id: str
    amount_refunded_cents: int
    refunds: list[dict[str, Any]] | None
    refunded_at: int
    event_id: str | None = None


@dataclass(frozen=True)
class RefundFailed:
    """A provider says a refund failed or was cancelled: the money is back with us."""

    provider: str
    payment_key: str
    refund_id: str
    amount_cents: int
    failed_at: int
    event_id: str | None = None


@dataclass(frozen=True)
class ClickPesaPaymentEvent:
    """ClickPesa says something about an order; its status is read back from ClickPesa."""

    order_reference: str
    webhook_event: str


@dataclass(frozen=True)
class KycChecked:
    """An identity provider's verdict, stripped of personal data (``KycResult`` fields)."""

    result: dict[str, Any]


Fact = (
    PaymentSettled
    | PaymentFailed
    | ChargeRefunded
    | RefundFailed
    | ClickPesaPaymentEvent
    | KycChecked
)


def message_for(fact: Fact) -> Message:
    """The message that carries *fact* to the worker that acts on it.

    >>> message_for(ClickPesaPaymentEvent("ORD1", "PAYMENT RECEIVED")).actor
    'confirm_clickpesa_payment'

    Raises:
        TypeError: *fact* is not a known fact.
    """
    match fact:
        case PaymentSettled():
            return ApplyPayment(
                provider=fact.provider,
                payment_key=fact.payment_key,
                address=fact.address,
                amount_cents=fact.amount_cents,
                currency=fact.currency,
                paid_at=fact.paid_at,
                topup_id=fact.topup_id,
                event_id=fact.event_id,
            )
        case PaymentFailed():
            return RecordPaymentFailure(
                provider=fact.provider,
                topup_id=fact.topup_id,
                payment_key=fact.payment_key,
                reason=fact.reason,
            )
        case ChargeRefunded():
            return ApplyRefund(
                provider=fact.provider,
                payment_key=fact.payment_key,
                charge_id=fact.charge_id,
                amount_refunded_cents=fact.amount_refunded_cents,
                refunds=fact.refunds,
                refunded_at=fact.refunded_at,
                event_id=fact.event_id,
            )
        case RefundFailed():
            return CreditFailedRefund(
                provider=fact.provider,
                payment_key=fact.payment_key,
                refund_id=fact.refund_id,
                amount_cents=fact.amount_cents,
                failed_at=fact.failed_at,
                event_id=fact.event_id,
            )
        case ClickPesaPaymentEvent():
            return ConfirmClickpesaPayment(
                order_reference=fact.order_reference, webhook_event=fact.webhook_event
            )
        case KycChecked():
            return RecordKycResult(result=fact.result)
    raise TypeError(f"fact: not a known fact: {type(fact).__name__}")
