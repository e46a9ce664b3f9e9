"""Domain errors. Never HTTP errors: the gateway maps them once."""

from __future__ import annotations

from wire.errors import HeroError, InvalidAddress

__all__ = [
    "AccountNotFound",
    "AdminRefused",
    "BrokerUnavailable",
    "HeroError",
    "InvalidAddress",
    "InvalidEmail",
    "PaymentError",
    "ProviderUnavailable",
]


class AccountNotFound(HeroError):
    """No account has this address."""


class PaymentError(HeroError):
    """A payment provider refused or failed a request."""


class ProviderUnavailable(PaymentError):
    """The payment provider could not be reached; try again later."""


class AdminRefused(HeroError):
    """An operator action was refused (bad or unknown key, bad arguments)."""


class BrokerUnavailable(HeroError):
    """The message broker did not confirm a message."""


class InvalidEmail(HeroError, ValueError):
    """The text is not an email address we can send to."""
