"""The sandbox provider: development only. Its checkout page is the gateway's own, and
paying there posts a correctly signed Stripe-format webhook to the real webhook route,
``/webhooks/sandbox``, and the payment is recorded under the provider ``sandbox``."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import requests

from adapters.payments.base import Checkout
from adapters.payments.stripe_provider import parse_stripe_webhook, sign_stripe_payload
from messages.facts import ChargeRefunded, Fact, PaymentFailed, PaymentSettled, RefundFailed
from models.errors import ProviderUnavailable


class SandboxProvider:
    """Pretend card payments that travel the whole real webhook path."""

    name = "sandbox"

    def __init__(
        self,
        *,
        public_url: str,
        webhook_secret: str,
        clock: Callable[[], float] = time.time,
        post: Callable[..., Any] = requests.post,
    ) -> None:
        self._public_url = public_url.rstrip("/")
        self._webhook_secret = webhook_secret
        self._clock = clock
        self._post = post

    def start_checkout(
        self,
        *,
        topup_id: str,
        address: str,
        amount_cents: int,
        return_url: str,
        cancel_url: str,
    ) -> Checkout:
        return Checkout(
            redirect_url=f"{self._public_url}/sandbox/checkout/{topup_id}",
            provider_ref=f"cs_sandbox_{topup_id}",
        )

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Fact]:
        """Verify a Stripe-format webhook signed with the sandbox's secret.

        Its payments and refunds are recorded under the provider ``sandbox``, never
        ``stripe``: sandbox money is never shown as a card payment.
        """
        facts = parse_stripe_webhook(body, headers, secret=self._webhook_secret, now=self._clock())
        return [
            dataclasses.replace(fact, provider=self.name)
            if isinstance(fact, PaymentSettled | PaymentFailed | ChargeRefunded | RefundFailed)
            else fact
            for fact in facts
        ]

    def complete(self, *, topup_id: str, address: str, amount_cents: int) -> None:
        """Pay a sandbox checkout: post the signed ``checkout.session.completed`` webhook.

        Raises:
            ProviderUnavailable: the webhook route did not answer 200.
        """
        now = int(self._clock())
        event = {
            "id": f"evt_sandbox_{secrets.token_hex(8)}",
            "object": "event",
            "type": "checkout.session.completed",
            "created": now,
            "data": {
                "object": {
                    "id": f"cs_sandbox_{topup_id}",
                    "object": "checkout.session",
                    "payment_intent": f"pi_sandbox_{topup_id}",
                    "payment_status": "paid",
                    "amount_total": amount_cents,
                    "currency": "usd",
                    "client_reference_id": address,
                    "metadata": {"topup_id": topup_id, "address": address},
                }
            },
        }
        body = json.dumps(event).encode()
        resp = self._post(
            f"{self._public_url}/webhooks/{self.name}",
            data=body,
            timeout=30,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign_stripe_payload(body, self._webhook_secret, now),
            },
        )
        if resp.status_code != 200:
            raise ProviderUnavailable(
                f"the webhook route answered {resp.status_code}: {resp.text[:200]}"
            )
