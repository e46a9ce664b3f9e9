"""A local HTTP server that speaks the part of Stripe's API the gateway uses:
``POST /v1/checkout/sessions`` (form-encoded, bearer auth, idempotency keys)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.support.http import serving


class FakeStripe:
    """State of the fake: sessions created, by idempotency key."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {
                "error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}
            }
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


@contextmanager
def fake_stripe(api_key: str) -> Iterator[FakeStripe]:
    state = FakeStripe(api_key)

    class Handler(BaseHTTPRequestHandler):
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
