"""Payment providers behind one interface."""

from __future__ import annotations

from adapters.payments.base import (
    Checkout,
    PaymentProvider,
    WebhookMessage,
    WebhookRejected,
)

__all__ = ["Checkout", "PaymentProvider", "WebhookMessage", "WebhookRejected"]
