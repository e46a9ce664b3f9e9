"""Payment webhooks: verify over the raw body, queue each fact's message, then answer 200."""

from __future__ import annotations

from collections.abc import Mapping

import falcon
import structlog
from prometheus_client import Counter

from adapters.payments import PaymentProvider, WebhookRejected
from adapters.payments.base import MAX_WEBHOOK_BYTES
from messages import Send
from messages.facts import message_for

log = structlog.get_logger("hero.webhooks")

#: What parsing a hostile body can raise besides WebhookRejected: a 400, never a 500.
UNREADABLE = (
    ValueError,  # UnicodeError, JSON, int("x")
    TypeError,
    KeyError,
    IndexError,
    AttributeError,  # a list where an object was expected
    ArithmeticError,  # int(float("inf"))
    RecursionError,
)

#: Webhooks received, by provider and outcome.
WEBHOOKS = Counter("hero_webhooks_total", "Payment webhooks received", ["provider", "outcome"])


class Webhook:
    """``POST /webhooks/{provider}``. 200 only after the broker confirmed every message."""

    def __init__(
        self,
        *,
        providers: Mapping[str, PaymentProvider],
        send: Send,
    ) -> None:
        self._providers = providers
        self._send = send

    def on_post(self, req: falcon.Request, resp: falcon.Response, provider: str) -> None:
        handler = self._providers.get(provider)
        if handler is None:
            raise falcon.HTTPNotFound(
                title="Unknown provider", description=f"no webhook for {provider!r} here"
            )
        body = req.bounded_stream.read(MAX_WEBHOOK_BYTES + 1)
        if len(body) > MAX_WEBHOOK_BYTES:
            raise falcon.HTTPContentTooLarge(
                title="Webhook body too large",
                description=f"the limit is {MAX_WEBHOOK_BYTES} bytes",
            )
        headers = {k.lower(): v for k, v in req.headers.items()}
        try:
            facts = handler.parse_webhook(body, headers)
        except WebhookRejected as exc:
            WEBHOOKS.labels(provider, "rejected").inc()
            log.warning("webhook.rejected", provider=provider, reason=str(exc))
            raise falcon.HTTPBadRequest(title="Webhook rejected", description=str(exc)) from None
        except UNREADABLE as exc:
            # The adapter met a body it has no words for; the provider retries a 400
            # as it would a 500, and this log line says which body shape to handle.
            WEBHOOKS.labels(provider, "unreadable").inc()
            log.error("webhook.unreadable", provider=provider, error=repr(exc)[:300])
            raise falcon.HTTPBadRequest(
                title="Webhook rejected", description="body: not an event this service reads"
            ) from None
        messages = [message_for(fact) for fact in facts]
        for message in messages:
            self._send(message)
        WEBHOOKS.labels(provider, "accepted" if messages else "ignored").inc()
        log.info("webhook.accepted", provider=provider, messages=[m.actor for m in messages])
        resp.media = {"received": True, "queued": len(messages)}
