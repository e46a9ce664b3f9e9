"""Request-wide behaviour: request id and one log line, DB connections, body limits."""

from __future__ import annotations

import time
import uuid
from typing import Any

import falcon
import structlog

from models import db

log = structlog.get_logger("hero.gateway")

#: Largest body accepted on any route, in bytes; webhooks have their own, lower limit.
MAX_BODY_BYTES = 64 * 1024


class RequestContext:
    """Bind a request id to every log line of the request and write one line at the end."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        structlog.contextvars.clear_contextvars()
        request_id = req.get_header("X-Request-Id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id[:64])
        req.context.request_id = request_id
        req.context.started = time.monotonic()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Request-Id", str(req.context.get("request_id", "")))
        started = req.context.get("started")
        if req.path in ("/healthz", "/metrics") or started is None:
            return
        log.info(
            "http.request",
            method=req.method,
            path=req.path,
            status=resp.status_code,
            duration_ms=round((time.monotonic() - started) * 1e3, 2),
        )


class DatabaseConnection:
    """Give a request's database connection back when it is done.

    Connections open lazily, on a request's first query, so routes that never read the
    database (health, webhooks) neither wait for it nor fail when it is down.
    """

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        if not db.is_closed():
            db.close()


class BodyLimit:
    """Refuse bodies over the route's limit before anything reads them (413)."""

    def __init__(
        self, *, default_bytes: int = MAX_BODY_BYTES, per_prefix: dict[str, int] | None = None
    ) -> None:
        self._default = default_bytes
        self._per_prefix = per_prefix or {}

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = next(
            (v for k, v in self._per_prefix.items() if req.path.startswith(k)), self._default
        )
        if req.content_length is not None and req.content_length > limit:
            raise falcon.HTTPContentTooLarge(
                title="Request body too large",
                description=f"the body is {req.content_length} bytes; the limit is {limit}",
            )


class SecurityHeaders:
    """Headers every answer carries."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "frame-ancestors 'none'; form-action 'self' https:; base-uri 'none'",
        )
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("Referrer-Policy", "no-referrer")
        resp.set_header("X-Frame-Options", "DENY")
