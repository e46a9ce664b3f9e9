"""Receipts: what one credited payment was, read for its owner only (read-only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import Account, LedgerEntry, PaymentEvent
from models.payment_names import method_label, provider_label, provider_of, receipt_number

__all__ = ["Receipt", "provider_label", "provider_of", "receipt_for", "receipt_number"]

#: Largest payment id a route accepts (ids are BIGINT).
MAX_PAYMENT_ID = 2**63 - 1


@dataclass(frozen=True)
class Receipt:
    """Everything a receipt shows."""

    payment_id: int
    number: str
    address: str
    provider: str
    provider_label: str
    method: str
    reference: str
    topup_reference: str | None
    paid_at: dt.datetime | None
    amount_cents: int
    currency: str
    balance_after_cents: int | None

    @property
    def sandbox(self) -> bool:
        return self.provider == "sandbox"


def receipt_for(address: str, payment_id: int) -> Receipt | None:
    """The receipt of payment *payment_id* when *address* owns it and it was credited.

    Returns:
        None for a payment that does not exist, belongs to another account, is a refund,
        or is not credited to an account: the caller cannot tell these apart, so ids
        reveal nothing about other accounts.
    """
    if not 0 < payment_id <= MAX_PAYMENT_ID:
        return None
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return None
    event = PaymentEvent.get_or_none(
        (PaymentEvent.id == payment_id)
        & (PaymentEvent.account == account)
        & (PaymentEvent.kind == "payment")
        & (PaymentEvent.status == "applied")
    )
    if event is None:
        return None
    entry = LedgerEntry.get_or_none(
        (LedgerEntry.kind == "payment")
        & (LedgerEntry.ref == f"{event.provider}:{event.key}")
        & (LedgerEntry.account == account)
    )
    return Receipt(
        payment_id=event.id,
        number=receipt_number(event.id),
        address=account.address,
        provider=provider_of(event.provider, event.key),
        provider_label=provider_label(event.provider, event.key),
        method=method_label(event.provider, event.key),
        reference=event.key,
        topup_reference=event.topup_public_id,
        paid_at=event.occurred_at or event.received_at,
        amount_cents=event.amount_cents,
        currency=event.currency.upper(),
        balance_after_cents=entry.balance_after_cents if entry else None,
    )
