"""Domain errors. Never HTTP errors: the gateway maps them once."""

from __future__ import annotations


class HeroError(Exception):
    """Base of every domain error."""


class AccountNotFound(HeroError):
    """No account has this address."""


class AccountExists(HeroError):
    """An account with this address already exists."""


class InvalidAddress(HeroError):
    """The text is not a Mycelium address."""


class PaymentError(HeroError):
    """A payment provider refused or failed a request."""


class ProviderUnavailable(PaymentError):
    """The payment provider could not be reached; try again later."""


class PaymentNotConfirmed(PaymentError):
    """The provider did not confirm the payment (yet)."""


class SignatureInvalid(HeroError):
    """A signature over a message or webhook did not verify."""


class AdminRefused(HeroError):
    """An operator action was refused (bad or unknown key, bad arguments)."""


class BrokerUnavailable(HeroError):
    """The message broker did not confirm a message."""
