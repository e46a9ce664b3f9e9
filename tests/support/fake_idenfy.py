"""A local HTTP server that speaks the part of iDenfy's KYC API the service uses, and
sends iDenfy's result webhooks.

It reproduces, as summarised in the project's iDenfy reference (section 10, "A stand-in
server for tests"): ``POST /api/v2/token`` from iDenfy's "Generate token" page and the KYC
OpenAPI file (``paths./api/v2/token``: HTTP Basic auth with API key and secret, 401
``UNAUTHORIZED``, ``JSON_ERROR``, ``MISSING_VALUE`` for ``clientId``, ``BAD_VALUE`` range
checks, defaults ``IDENTIFICATION``/3600/600, a 201 with ``authToken``, ``scanRef``,
``redirectUrl``; 409 while the ``clientId`` has a live token, from the "Error handling"
guide); ``GET /api/v2/redirect`` (``TOKEN_NOT_VALID`` for unknown tokens); ``POST
/api/v2/status`` from the "Data retrieval" page (``ACTIVE``, then ``REVIEWING`` while a
review runs, then the final value; unknown scanRef 400 ``BAD_VALUE``, reference section
10 item 3), which a test can make answer an error first, e.g. the 500 ``INTERNAL_ERROR``
the "Error handling" guide lists (reference section 2.3). Webhooks follow the "Webhooks" and
"Callback signing" pages and the spec's ``IdentificationWebhook`` schema: JSON body with
``final``, ``status{overall, autoDocument, autoFace, manualDocument, manualFace,
fraudTags, mismatchTags}``, personal ``data`` and ``fileUrls``; headers
``Idenfy-Event-Type`` and ``Idenfy-Signature`` = hex HMAC-SHA256 of the exact body with
the signing key; an automatic result (``final: false`` when a review follows) then a
manual one; one retry 0.5 s after a non-2xx answer (legacy FAQ). Test control (not
iDenfy's API) is by method calls on :class:`FakeIdenfy`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support.http import serving


def error(identifier: str, message: str) -> dict[str, Any]:
    return {"identifier": identifier, "message": message}


class FakeIdenfy:
    """State of the stand-in: sessions by scanRef, every webhook attempt."""

    def __init__(self, api_key: str, api_secret: str, signing_key: str | None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.signing_key = signing_key
        #: The dashboard's webhook URL (a token's callbackUrl overrides it).
        self.webhook_url = ""
        self.sessions: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.retry_delay_s = 0.5
        self.attempts = 2
        self.url = ""
        #: Every status call, by scanRef, in order.
        self.status_calls: list[str] = []
        #: Test control: (code, body) answers the status endpoint gives for a scanRef
        #: before its real one, e.g. ``[(500, error("INTERNAL_ERROR", ...))]``.
        self.status_faults: dict[str, list[tuple[int, Any]]] = {}

    # -- the API ----------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> tuple[int, Any]:
        path = urlsplit(handler.path)
        if handler.command == "GET" and path.path == "/api/v2/redirect":
            token = (parse_qs(path.query).get("authToken") or [""])[0]
            known = any(s["authToken"] == token for s in self.sessions.values())
            if not known:
                return 400, error("TOKEN_NOT_VALID", "Token is not valid.")
            return 200, {"page": "verification"}
        if not self._authorised(handler.headers.get("Authorization")):
            return 401, error("UNAUTHORIZED", "Provided API key or secret is invalid.")
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            body = json.loads(handler.rfile.read(length) or b"null")
        except ValueError:
            return 400, error("JSON_ERROR", "Could not parse JSON.")
        if not isinstance(body, dict):
            return 400, error("JSON_ERROR", "Body must be an object.")
        if path.path == "/api/v2/token":
            return self.token(body)
        if path.path == "/api/v2/status":
            self.status_calls.append(str(body.get("scanRef")))
            faults = self.status_faults.get(str(body.get("scanRef")))
            if faults:
                return faults.pop(0)
            session = self.sessions.get(str(body.get("scanRef")))
            if session is None:
                return 400, error("BAD_VALUE", "scanRef: unknown.")
            return 200, {
                **session["status"],
                "scanRef": body["scanRef"],
                "clientId": session["clientId"],
            }
        return 404, error("METHOD_NOT_ALLOWED", "Unknown endpoint.")

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        expected = base64.b64encode(f"{self.api_key}:{self.api_secret}".encode()).decode()
        return hmac.compare_digest(header[6:], expected)

    def token(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.token_requests.append(body)
        client_id = body.get("clientId")
        if not client_id:
            return 400, error("MISSING_VALUE", "clientId: missing.")
        checks = [
            (
                "clientId",
                isinstance(client_id, str) and len(client_id) <= 100 and client_id.isascii(),
            ),
            ("externalRef", body.get("externalRef") is None or len(str(body["externalRef"])) <= 40),
            ("locale", body.get("locale") is None or len(str(body["locale"])) <= 7),
            ("expiryTime", 0 <= int(body.get("expiryTime", 3600)) <= 2_592_000),
            ("sessionLength", 60 <= int(body.get("sessionLength", 600)) <= 3600),
        ]
        for name, ok in checks:
            if not ok:
                return 400, error("BAD_VALUE", f"{name}: out of range.")
        now = time.time()
        for live in self.sessions.values():
            if live["clientId"] == client_id and live["expires_at"] > now and not live["done"]:
                return 409, error("CONFLICT", "Client ID already has an active session.")
        scan_ref, auth_token = str(uuid.uuid4()), secrets.token_urlsafe(30)[:40]
        expiry = int(body.get("expiryTime", 3600))
        response = {
            "message": "Token created successfully",
            "authToken": auth_token,
            "scanRef": scan_ref,
            "clientId": client_id,
            "redirectUrl": f"{self.url}/api/v2/redirect?authToken={auth_token}",
            "tokenType": body.get("tokenType", "IDENTIFICATION"),
            "expiryTime": expiry,
            "sessionLength": int(body.get("sessionLength", 600)),
            "externalRef": body.get("externalRef"),
            "successUrl": body.get("successUrl"),
            "errorUrl": body.get("errorUrl"),
            "unverifiedUrl": body.get("unverifiedUrl"),
            "callbackUrl": body.get("callbackUrl"),
        }
        self.sessions[scan_ref] = {
            **response,
            "expires_at": now + expiry,
            "done": False,
            "status": {
                "status": "ACTIVE",
                "autoDocument": None,
                "autoFace": None,
                "manualDocument": None,
                "manualFace": None,
                "fraudTags": [],
                "mismatchTags": [],
            },
        }
        return 201, response

    # -- webhooks (test control) ------------------------------------------------------

    def body(self, scan_ref: str, *, final: bool | None, **status: Any) -> dict[str, Any]:
        """An ``IdentificationWebhook`` body, personal data included as iDenfy sends it."""
        session = self.sessions.get(scan_ref, {"clientId": "unknown", "externalRef": None})
        full_status = {
            "overall": "APPROVED",
            "fraudTags": [],
            "mismatchTags": [],
            "autoDocument": None,
            "autoFace": None,
            "manualDocument": None,
            "manualFace": None,
            "additionalSteps": None,
            **status,
        }
        payload: dict[str, Any] = {
            "final": final,
            "platform": "PC",
            "status": full_status,
            "data": {
                "docFirstName": "JOHN",
                "docLastName": "SAMPLE",
                "docNumber": "XK1234567",
                "docDob": "1990-05-15",
                "docType": "PASSPORT",
                "docNationality": "NL",
                "fullName": "JOHN SAMPLE",
                "address": None,
                "manuallyDataChanged": False,
            },
            "fileUrls": {
                "FRONT": "https://s3.example/FRONT.png?X-Amz-Expires=600",
                "FACE": "https://s3.example/FACE.png?X-Amz-Expires=600",
            },
            "AML": None,
            "LID": None,
            "scanRef": scan_ref,
            "externalRef": session.get("externalRef"),
            "clientId": session["clientId"],
            "companyId": None,
            "beneficiaryId": None,
            "startTime": int(time.time()) - 120,
            "finishTime": int(time.time()),
            "clientIp": "203.0.113.7",
            "clientIpCountry": "NL",
            "clientLocation": "Amsterdam",
        }
        if final is None:
            del payload["final"]
        return payload

    def send(
        self,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        signature: str | None = "sign",
        url: str | None = None,
    ) -> int:
        """Deliver one webhook (retrying once on a non-2xx answer); the last status code.

        *signature*: ``"sign"`` signs the body, None sends no header, anything else is sent
        as the header's value.
        """
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Idenfy-Event-Type": event}
        if signature == "sign" and self.signing_key:
            headers["Idenfy-Signature"] = hmac.new(
                self.signing_key.encode(), raw, hashlib.sha256
            ).hexdigest()
        elif signature not in (None, "sign"):
            headers["Idenfy-Signature"] = signature
        target = url or self.webhook_url
        code = 0
        for attempt in range(self.attempts):
            try:
                code = requests.post(target, data=raw, headers=headers, timeout=10).status_code
            except requests.RequestException:
                code = 0
            self.deliveries.append(
                {
                    "event": event,
                    "body": raw,
                    "headers": headers,
                    "code": code,
                    "attempt": attempt,
                    "at": time.time(),
                }
            )
            if 200 <= code < 300:
                break
            time.sleep(self.retry_delay_s)
        return code

    def finish(
        self, scan_ref: str, auto: str, manual: str | None = None, **codes: Any
    ) -> list[int]:
        """The user finished: the automatic result, then (when *manual*) the reviewer's."""
        session = self.sessions[scan_ref]
        session["done"] = True
        auto_codes = {k: v for k, v in codes.items() if k.startswith("auto") or k.endswith("Tags")}
        sent = [
            self.send(
                "IDENTIFICATION_AUTO_FINISHED",
                self.body(scan_ref, final=manual is None, overall=auto, **auto_codes),
            )
        ]
        session["status"].update(status=auto if manual is None else "REVIEWING", **auto_codes)
        if manual is not None:
            manual_codes = {
                "manualDocument": "DOC_VALIDATED" if manual == "APPROVED" else "DOC_FAKE",
                "manualFace": "FACE_MATCH",
                **codes,
            }
            sent.append(
                self.send(
                    "IDENTIFICATION_MANUAL_FINISHED",
                    self.body(scan_ref, final=True, overall=manual, **manual_codes),
                )
            )
            session["status"].update(status=manual, **manual_codes)
        return sent

    def expire(self, scan_ref: str) -> int:
        """The token ran out before the user finished."""
        self.sessions[scan_ref].update(done=True, expires_at=0)
        self.sessions[scan_ref]["status"]["status"] = "EXPIRED"
        return self.send(
            "IDENTIFICATION_EXPIRED", self.body(scan_ref, final=True, overall="EXPIRED")
        )


@contextmanager
def fake_idenfy(api_key: str, api_secret: str, signing_key: str | None) -> Iterator[FakeIdenfy]:
    """Run a stand-in iDenfy on a free port."""
    state = FakeIdenfy(api_key, api_secret, signing_key)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            code, payload = state.handle(self)
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        state.url = url
        yield state
