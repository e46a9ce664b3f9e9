"""Receipts: what one credited payment was, read for its owner only (read-only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import Account, LedgerEntry, PaymentEvent

#: Largest payment id a route accepts (ids are BIGINT).
MAX_PAYMENT_ID = 2**63 - 1
#: Providers and methods in words. Sandbox money never reads as a card or as Stripe.
PROVIDER_NAMES = {
    "stripe": ("Stripe", "card"),
    "clickpesa": ("ClickPesa", "mobile money"),
    "sandbox": ("Sandbox (no real money)", "sandbox checkout"),
}
#: Key prefixes of the payments the development sandbox makes (recorded before the
#: sandbox had a provider name of its own, under ``stripe``).
SANDBOX_KEY_PREFIXES = ("pi_sandbox_", "cs_sandbox_")


def provider_of(provider: str, key: str | None = None) -> str:
    """The provider a payment really came from: ``sandbox`` for sandbox money.

    >>> provider_of("stripe", "pi_sandbox_t1"), provider_of("stripe", "pi_3Q")
    ('sandbox', 'stripe')
    """
    if provider == "sandbox" or (key or "").startswith(SANDBOX_KEY_PREFIXES):
        return "sandbox"
    return provider


def provider_label(provider: str, key: str | None = None) -> str:
    """A payment's provider in words.

    >>> provider_label("stripe", "pi_sandbox_t1")
    'Sandbox (no real money)'
    """
    real = provider_of(provider, key)
    return PROVIDER_NAMES.get(real, (real.capitalize(), ""))[0]


def method_label(provider: str, key: str | None = None) -> str:
    """How a payment was paid, in words ("card", "mobile money", "sandbox checkout")."""
    real = provider_of(provider, key)
    return PROVIDER_NAMES.get(real, ("", "payment"))[1]


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


def receipt_number(payment_id: int) -> str:
    """The number printed on a receipt.

    >>> receipt_number(42)
    'HR-000042'
    """
    return f"HR-{payment_id:06d}"


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
