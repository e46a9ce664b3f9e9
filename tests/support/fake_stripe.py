"""A local HTTP server that speaks the part of Stripe's API the gateway uses:
``POST /v1/checkout/sessions`` (form-encoded, bearer auth, idempotency keys),
``GET /v1/refunds?charge=...`` (a list object, newest first, ``limit`` and
``starting_after`` pagination with ``has_more``) and ``POST /v1/refunds`` (``payment_intent``
or ``charge``, ``amount``, ``metadata[...]``; an ``Idempotency-Key`` seen before answers the
first refund again, and with other parameters a 400 ``idempotency_error``, as Stripe's
"Idempotent requests" API reference says). A refund made through the API is followed, when
``webhook_url`` is set, by a signed ``charge.refunded`` event in the current shape (the
cumulative ``amount_refunded``), posted ``deliveries`` times as Stripe may redeliver it.

It reproduces stripe-python 16.1.0 as it calls the API: ``stripe/checkout/_session_service.py``
and ``stripe/_refund_service.py`` (paths, parameters), ``stripe/_list_object.py``
(``auto_paging_iter`` asks for the next page with ``starting_after`` = the last id while
``has_more`` is true), and the objects of ``stripe/checkout/_session.py`` and
``stripe/_refund.py``. Events are built by ``tests.support.stripe_events`` in the shape of
API version ``2026-10-28.endive``.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from tests.support.http import serving
from tests.support.stripe_events import charge_id_of, charge_refunded, refund_object, signed


class FakeStripe:
    """State of the fake: sessions created, by idempotency key."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        #: Refunds by charge id, oldest first.
        self.refunds: dict[str, list[dict[str, Any]]] = {}
        #: When set, every request answers 500 (Stripe having trouble).
        self.failing = False
        self.url = ""
        #: Refunds created through the API, by idempotency key, with their parameters.
        self.created_refunds: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
        #: Charge amounts by payment intent (a charge's ``amount`` in webhooks).
        self.charge_amounts: dict[str, int] = {}
        #: Where ``charge.refunded`` is posted after a refund, signed with the secret.
        self.webhook_url: str | None = None
        self.webhook_secret = ""
        self.deliveries = 1
        self.webhook_statuses: list[int] = []

    def add_refund(
        self, payment_intent: str, refund_id: str, amount: int, status: str = "succeeded"
    ) -> dict[str, Any]:
        """Record a refund of *payment_intent*'s charge, as ``POST /v1/refunds`` would."""
        refund = refund_object(refund_id, amount, payment_intent, status)
        self.refunds.setdefault(charge_id_of(payment_intent), []).append(refund)
        return refund

    def handle(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {
                "error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}
            }
        if self.failing:
            return 500, {"error": {"type": "api_error", "message": "Something went wrong"}}
        if handler.command == "GET":
            return self.list_refunds(handler.path)
        if handler.path == "/v1/refunds":
            return self.create_refund(handler)
        if handler.path != "/v1/checkout/sessions":
            return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized"}}
        length = int(handler.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(handler.rfile.read(length).decode()))
        key = handler.headers.get("Idempotency-Key")
        self.requests.append({"form": form, "idempotency_key": key})
        if key and key in self.sessions:
            return 200, self.sessions[key]
        for required in ("mode", "success_url", "line_items[0][price_data][unit_amount]"):
            if required not in form:
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Missing required param: {required}.",
                    }
                }
        session_id = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "client_reference_id": form.get("client_reference_id"),
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form.get("line_items[0][price_data][currency]"),
            "payment_status": "unpaid",
            "status": "open",
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
        }
        if key:
            self.sessions[key] = session
        return 200, session

    def create_refund(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        """``POST /v1/refunds``: a succeeded refund of the intent's (or charge's) charge."""
        length = int(handler.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(handler.rfile.read(length).decode()))
        key = handler.headers.get("Idempotency-Key")
        self.requests.append({"create_refund": form, "idempotency_key": key})
        if key and key in self.created_refunds:
            first_form, first = self.created_refunds[key]
            if first_form != form:
                return 400, {
                    "error": {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                        "same parameters they were first used with.",
                    }
                }
            return 200, first
        intent = form.get("payment_intent") or f"pi_{form.get('charge', '')[3:]}"
        if intent == "pi_":
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "message": "One of the following params should be provided for this "
                    "request: payment_intent or charge.",
                }
            }
        amount = int(form.get("amount") or self.charge_amounts.get(intent, 0))
        refund = self.add_refund(intent, f"re_{secrets.token_hex(8)}", amount)
        refund["metadata"] = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        if key:
            self.created_refunds[key] = (form, refund)
        if self.webhook_url:
            threading.Thread(target=self.send_refunded, args=(intent,), daemon=True).start()
        return 200, refund

    def send_refunded(self, intent: str) -> None:
        total = sum(int(r["amount"]) for r in self.refunds.get(charge_id_of(intent), []))
        event = charge_refunded(
            payment_intent=intent,
            amount_refunded_cents=total,
            amount_cents=self.charge_amounts.get(intent, total),
        )
        body, headers = signed(event, self.webhook_secret)
        assert self.webhook_url
        for _ in range(self.deliveries):
            answer = requests.post(self.webhook_url, data=body, headers=headers, timeout=30)
            self.webhook_statuses.append(answer.status_code)

    def list_refunds(self, path: str) -> tuple[int, dict[str, Any]]:
        """``GET /v1/refunds``: the charge's refunds, newest first, one page."""
        parts = urlsplit(path)
        if parts.path != "/v1/refunds":
            return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized"}}
        query = dict(parse_qsl(parts.query))
        self.requests.append({"list_refunds": query})
        newest_first = list(reversed(self.refunds.get(query.get("charge", ""), [])))
        after = query.get("starting_after")
        if after:
            ids = [r["id"] for r in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", "10"))
        return 200, {
            "object": "list",
            "data": newest_first[:limit],
            "has_more": len(newest_first) > limit,
            "url": "/v1/refunds",
        }


@contextmanager
def fake_stripe(api_key: str) -> Iterator[FakeStripe]:
    state = FakeStripe(api_key)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.do_POST()

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            status, body = state.handle(self)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        state.url = url
        yield state
