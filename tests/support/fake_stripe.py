"""A local HTTP server that speaks the part of Stripe's API the gateway uses:
``POST /v1/checkout/sessions`` (form-encoded, bearer auth, idempotency keys) and
``GET /v1/refunds?charge=...`` (a list object, newest first, ``limit`` and
``starting_after`` pagination with ``has_more``).

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
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.http import serving
from tests.support.stripe_events import charge_id_of, refund_object


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
