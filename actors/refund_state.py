"""Where a payment's refunds stand, read under the payment's lock, and the rules over them:
the bounds a refund's fields must keep, and ``first_paid_at`` once refunds are counted."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee

from actors.ladder import tier_at
from actors.payments import PermanentPaymentError
from models import Billing, LedgerEntry, PaymentEvent
from models.money import MAX_PAYMENT_CENTS
from wire.times import utcnow

#: Longest payment key or refund id a refund message may carry (``PaymentEvent.key`` holds
#: 200 characters, and a refund step appends ``:<total cents>`` to the payment key).
MAX_REF_LENGTH = 100
#: PaymentEvent kinds written for a payment's refunds: debited, parked over the payment's
#: amount, and credited back after the refund failed.
REFUND_KINDS = ("refund", "refund_excess", "refund_failed")


def check_amount(field: str, value: object, *, minimum: int = 1) -> int:
    """*value* when it is an integer from *minimum* to ``MAX_PAYMENT_CENTS`` cents.

    >>> check_amount("amount_cents", 500)
    500

    Raises:
        PermanentPaymentError: naming *field*, for a float, boolean, string or out of bounds.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise PermanentPaymentError(f"{field}: must be an integer number of cents, not {value!r}")
    if not minimum <= value <= MAX_PAYMENT_CENTS:
        raise PermanentPaymentError(
            f"{field}: {value} is outside {minimum}..{MAX_PAYMENT_CENTS} cents"
        )
    return value


def check_id(field: str, value: object) -> str:
    """*value* when it is a non-empty string of at most ``MAX_REF_LENGTH`` characters.

    Raises:
        PermanentPaymentError: naming *field*.
    """
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REF_LENGTH:
        raise PermanentPaymentError(
            f"{field}: must be a string of 1..{MAX_REF_LENGTH} characters, not {value!r}"
        )
    return value


@dataclass(frozen=True)
class RefundState:
    """The refunds of one payment so far, in cents."""

    payment: PaymentEvent
    debited_cents: int
    excess_cents: int
    failed_cents: int

    @classmethod
    def of(cls, payment: PaymentEvent) -> RefundState:
        """Read the refund rows of *payment* (the caller holds its lock)."""
        rows = (
            PaymentEvent.select(PaymentEvent.kind, peewee.fn.SUM(PaymentEvent.amount_cents))
            .where(
                (PaymentEvent.provider == payment.provider)
                & (PaymentEvent.payment_key == payment.key)
                & PaymentEvent.kind.in_(REFUND_KINDS)
            )
            .group_by(PaymentEvent.kind)
        )
        sums = {kind: int(total or 0) for kind, total in _tuples(rows)}
        return cls(
            payment,
            sums.get("refund", 0),
            sums.get("refund_excess", 0),
            sums.get("refund_failed", 0),
        )

    def reread(self) -> RefundState:
        """The same payment's state after this transaction's writes."""
        return RefundState.of(self.payment)

    @property
    def account_id(self) -> int:
        """The account the payment was credited to (only applied payments have a state)."""
        assert self.payment.account_id is not None, "an applied payment has an account"
        return self.payment.account_id

    @property
    def gross_cents(self) -> int:
        """Everything the provider reported refunded, failed refunds included."""
        return self.debited_cents + self.excess_cents

    @property
    def net_debited_cents(self) -> int:
        """What the refunds took from the balance and still hold."""
        return self.debited_cents - self.failed_cents

    @property
    def remaining_cents(self) -> int:
        """What of the payment refunds may still take."""
        return int(self.payment.amount_cents) - self.net_debited_cents

    def failed_known(self, refund_id: str) -> bool:
        """Whether the failure of *refund_id* was already credited back."""
        return bool(
            PaymentEvent.select()
            .where(
                (PaymentEvent.provider == self.payment.provider)
                & (PaymentEvent.kind == "refund_failed")
                & (PaymentEvent.key == refund_id)
            )
            .exists()
        )


def first_paid_at(account_id: int) -> dt.datetime | None:
    """The provider's time of the account's first credited payment that refunds have not
    fully taken back, or None when there is none: paid tenure starts there.

    "First credited" is ledger order, as when ``first_paid_at`` was stamped, so with no
    refund this is the stamp the payments left."""
    mine = PaymentEvent.account == account_id
    refund_rows = PaymentEvent.select(
        PaymentEvent.provider,
        PaymentEvent.payment_key,
        PaymentEvent.kind,
        PaymentEvent.amount_cents,
    ).where(mine & PaymentEvent.kind.in_(["refund", "refund_failed"]))
    held: dict[str, int] = {}
    for provider, key, kind, amount in _tuples(refund_rows):
        sign = 1 if kind == "refund" else -1
        held[f"{provider}:{key}"] = held.get(f"{provider}:{key}", 0) + sign * int(amount)
    payment_rows = PaymentEvent.select(
        PaymentEvent.provider, PaymentEvent.key, PaymentEvent.amount_cents, PaymentEvent.occurred_at
    ).where(mine & (PaymentEvent.kind == "payment") & (PaymentEvent.status == "applied"))
    payments = {
        f"{provider}:{key}": (int(amount), occurred)
        for provider, key, amount, occurred in _tuples(payment_rows)
    }
    credits = (
        LedgerEntry.select(LedgerEntry.ref)
        .where((LedgerEntry.account == account_id) & (LedgerEntry.kind == "payment"))
        .order_by(LedgerEntry.id)
    )
    for (ref,) in _tuples(credits):
        amount, occurred = payments.get(ref, (0, None))
        if occurred is not None and held.get(ref, 0) < amount:
            return occurred  # type: ignore[no-any-return]
    return None


def restamp_first_paid(account_id: int) -> None:
    """Move ``first_paid_at`` (and the tier shown) to what the account's refunds leave:
    a fully refunded payment gives no paid tenure. Caller holds the transaction."""
    stamp = first_paid_at(account_id)
    Billing.update(
        first_paid_at=stamp, discount_tier=tier_at(stamp, utcnow()), updated_at=utcnow()
    ).where(Billing.account == account_id).execute()


def _tuples(query: peewee.Query) -> list[tuple[Any, ...]]:
    return list(query.tuples())
