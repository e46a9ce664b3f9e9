"""The ``PaymentProvider`` interface every provider implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from messages.facts import Fact

#: Largest webhook body accepted, in bytes (DESIGN: 413 above it).
MAX_WEBHOOK_BYTES = 256 * 1024


class WebhookRejected(Exception):
    """A webhook failed verification: bad, missing or stale signature, or bad body."""


@dataclass(frozen=True)
class Checkout:
    """A started checkout: where to send the browser and the provider's reference."""

    redirect_url: str
    provider_ref: str


class PaymentProvider(Protocol):
    """A way to pay: start a hosted checkout, and read the provider's webhooks."""

    name: str

    def start_checkout(
        self,
        *,
        topup_id: str,
        address: str,
        amount_cents: int,
        return_url: str,
        cancel_url: str,
    ) -> Checkout:
        """Create a hosted checkout for *amount_cents* USD and return where to redirect.

        Raises:
            ProviderUnavailable: the provider could not be reached.
            PaymentError: the provider refused.
        """
        ...

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Fact]:
        """Verify a webhook over its raw *body* and say what it means happened.

        Raises:
            WebhookRejected: naming what failed.
        """
        ...
