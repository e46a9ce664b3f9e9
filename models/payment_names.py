"""Payments in words: who a payment came from, how it was paid, its receipt number.

Pure and shared by the pages, the PDF and the emails.
"""

from __future__ import annotations

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


def receipt_number(payment_id: int) -> str:
    """The number printed on a receipt.

    >>> receipt_number(42)
    'HR-000042'
    """
    return f"HR-{payment_id:06d}"
