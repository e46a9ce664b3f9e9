"""Payment providers behind one interface."""

from __future__ import annotations

from adapters.payments.base import (
    Checkout,
    PaymentProvider,
    WebhookRejected,
)
from messages.facts import Fact

__all__ = ["Checkout", "Fact", "PaymentProvider", "WebhookRejected"]
