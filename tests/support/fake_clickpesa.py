"""A local ClickPesa: the documented third-party API on 127.0.0.1, for tests.

ClickPesa has no sandbox or test environment, so this is the only place the client
meets a ClickPesa before production. It follows ClickPesa's documentation repository,
ClickPesa/developers.docs (rendered at https://docs.clickpesa.com):

- ``api-reference/authorization/generate-token.mdx``: ``POST /generate-token`` with
  ``client-id``/``api-key`` headers answers ``{"success", "token": "Bearer ..."}``;
- ``api-reference/collection/generate-checkout-link/``: ``POST
  /checkout-link/generate-checkout-url`` (``orderReference``, ``orderCurrency`` TZS|USD,
  ``totalPrice`` string, ``checksum``) answers ``{"checkoutLink", "clientId"}``;
- ``api-reference/collection/querying-for-payments/``: ``GET /payments/{orderReference}``
  answers a list of payment records (404 when there is none);
- ``home/webhooks.mdx``: the ``PAYMENT RECEIVED`` envelope ``{"event", "data"}`` (the
  ``PAYMENT FAILED`` sample says ``eventType``);
- ``home/checksum.mdx`` (current version on docs.clickpesa.com): HMAC-SHA256 hex of the
  canonical JSON, ``checksum``/``checksumMethod`` left out.

It counts every call (``calls``), tokens included, as ClickPesa's 100-calls-a-day limit
before KYC does. Its checksum is computed independently of the adapter on purpose, with
Python's ``json``: exact for bodies whose values are strings (all it signs and checks);
bodies with JavaScript numbers are signed in tests by node (``tests.support.js_checksum``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Characters ClickPesa accepts in an order reference.
ORDER_REFERENCE = re.compile(r"^[A-Za-z0-9]+$")


def _canonical(value: Any) -> Any:
    """Recursively sorted objects, as the docs' JavaScript reference builds them."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def checksum(payload: dict[str, Any], key: str) -> str:
    """ClickPesa's checksum: HMAC-SHA256 hex over the canonical compact JSON."""
    unsigned = {k: v for k, v in payload.items() if k not in ("checksum", "checksumMethod")}
    text = json.dumps(_canonical(unsigned), separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_webhook(
    event: str,
    data: Any,
    key: str,
    *,
    in_header: bool = False,
    checksum_method: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers ClickPesa would post for *event* about *data*.

    With *in_header* the checksum travels in ``X-ClickPesa-Signature`` instead of the body.
    """
    body: dict[str, Any] = {"event": event, "data": data}
    if checksum_method:
        body["checksumMethod"] = checksum_method
    headers = {"Content-Type": "application/json"}
    if in_header:
        headers["X-ClickPesa-Signature"] = checksum(body, key)
    else:
        body["checksum"] = checksum(body, key)
    return json.dumps(body, ensure_ascii=False).encode("utf-8"), headers


def now_iso() -> str:
    """Now as ClickPesa writes times: ISO 8601 UTC with milliseconds and ``Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeClickPesa:
    """ClickPesa's third-party API on a free local port; use as a context manager."""

    def __init__(
        self,
        *,
        client_id: str = "cp_client",
        api_key: str = "cp_api_key",
        checksum_key: str = "cp_checksum_key",
    ) -> None:
        self.client_id = client_id
        self.api_key = api_key
        self.checksum_key = checksum_key
        self.down = False
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, list[dict[str, Any]]] = {}
        self.calls: Counter[str] = Counter()
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_base = f"{self.url}/third-parties"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._stopped = False

    def __enter__(self) -> FakeClickPesa:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop answering and free the port (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._server.server_close()

    def set_payment(
        self,
        order_reference: str,
        *,
        status: str = "SUCCESS",
        amount: str = "25.00",
        currency: str = "USD",
        created_at: str | None = None,
        append: bool = False,
    ) -> dict[str, Any]:
        """Make ``GET /payments/{order_reference}`` answer with this payment (or add it)."""
        record = {
            "id": f"{order_reference}LCP{secrets.token_hex(3).upper()}",
            "status": status,
            "paymentReference": secrets.token_hex(9),
            "orderReference": order_reference,
            "collectedAmount": amount,
            "collectedCurrency": currency,
            "message": "success" if status in ("SUCCESS", "SETTLED") else status.lower(),
            "updatedAt": now_iso(),
            "createdAt": created_at or now_iso(),
            "customer": {
                "customerName": "Test Payer",
                "customerEmail": "payer@example.com",
                "customerPhoneNumber": "255700000000",
            },
            "clientId": self.client_id,
        }
        with self._lock:
            kept = self.payments.get(order_reference, []) if append else []
            self.payments[order_reference] = [*kept, record]
        return record

    def webhook(
        self, order_reference: str, *, event: str = "PAYMENT RECEIVED", **options: Any
    ) -> tuple[bytes, dict[str, str]]:
        """A correctly signed webhook about *order_reference*'s latest payment."""
        with self._lock:
            records = self.payments.get(order_reference) or [{"orderReference": order_reference}]
        return signed_webhook(event, dict(records[-1]), self.checksum_key, **options)

    def revoke_tokens(self) -> None:
        """Invalidate every issued token, as a checksum-setting change does."""
        with self._lock:
            self._tokens.clear()

    def queries(self, order_reference: str) -> int:
        """How many times ``GET /payments/{order_reference}`` was answered."""
        return self.calls[f"GET /payments/{order_reference}"]

    # The routes, called by the handler with the lock not held.

    def route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if self.down:
            return 503, {"message": "Service Unavailable"}
        if not path.startswith("/third-parties/"):
            return 404, {"message": "Not Found"}
        path = path[len("/third-parties") :]
        with self._lock:
            self.calls[f"{method} {path}"] += 1
        if method == "POST" and path == "/generate-token":
            return self._generate_token(headers)
        with self._lock:
            authorized = headers.get("authorization") in self._tokens
        if not authorized:
            return 401, {"message": "Unauthorized"}
        if method == "POST" and path == "/checkout-link/generate-checkout-url":
            return self._checkout_link(body)
        if method == "GET" and path.startswith("/payments/"):
            with self._lock:
                records = self.payments.get(path[len("/payments/") :])
            return (200, records) if records else (404, {"message": "Payment not found"})
        return 404, {"message": "Not Found"}

    def _generate_token(self, headers: dict[str, str]) -> tuple[int, Any]:
        if headers.get("client-id") != self.client_id or headers.get("api-key") != self.api_key:
            return 401, {"message": "Invalid client-id or api-key"}
        token = f"Bearer {secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens.add(token)
        return 200, {"success": True, "token": token}

    def _checkout_link(self, body: bytes) -> tuple[int, Any]:
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"message": "Invalid JSON"}
        if payload.get("checksum") != checksum(payload, self.checksum_key):
            return 400, {"message": "Invalid checksum"}
        reference = str(payload.get("orderReference") or "")
        if not ORDER_REFERENCE.match(reference):
            return 400, {"message": "orderReference must be letters and digits only"}
        if payload.get("orderCurrency") not in ("TZS", "USD"):
            return 400, {"message": "orderCurrency must be TZS or USD"}
        if not isinstance(payload.get("totalPrice"), str):
            return 400, {"message": "totalPrice must be a string"}
        with self._lock:
            if reference in self.orders:
                return 409, {"message": "orderReference already used"}
            self.orders[reference] = payload
        return 200, {"checkoutLink": f"{self.url}/checkout/{reference}", "clientId": self.client_id}


def _handler(fake: FakeClickPesa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = fake.route(self.command, self.path, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler
