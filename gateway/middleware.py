"""Request-wide behaviour: request id and one log line, DB connections, body limits,
path parameters, and the headers every answer carries."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import falcon
import structlog

from models import db

log = structlog.get_logger("hero.gateway")

#: Largest body accepted on any route, in bytes; webhooks have their own, lower limit.
MAX_BODY_BYTES = 64 * 1024
#: What a client's ``X-Request-Id`` must look like to be kept (else a new one is made).
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Longest path parameter (ids, codes) any route accepts.
MAX_PATH_PARAM = 128
#: ``Strict-Transport-Security`` in production: a year, subdomains included.
HSTS = "max-age=31536000; includeSubDomains"


class RequestContext:
    """Bind a request id to every log line of the request and write one line at the end."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        structlog.contextvars.clear_contextvars()
        given = req.get_header("X-Request-Id") or ""
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
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


class PathParams:
    """Answer 404 for a path parameter no id looks like, before any route reads it.

    Ids and codes are short printable text; a NUL, a control character or a lone
    surrogate would otherwise reach the database (PostgreSQL refuses NUL in text).
    """

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        for name, value in params.items():
            if isinstance(value, str) and not _plain(value):
                raise falcon.HTTPNotFound(
                    title="Not found", description=f"{name}: no such id or code"
                )


def _plain(text: str) -> bool:
    return len(text) <= MAX_PATH_PARAM and text.isprintable() and text.isascii()


class SecurityHeaders:
    """Headers every answer carries.

    Answers are ``Cache-Control: no-store`` unless their route chose otherwise (the
    static files): pages hold account data and per-session CSRF tokens, and a page
    kept in the browser's cache would show after logout on Back. With *hsts*
    (production, served over https) browsers are told to use https only.
    """

    def __init__(self, *, hsts: bool = False) -> None:
        self._hsts = hsts

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
        if not req.path.startswith("/static/") and resp.get_header("Cache-Control") is None:
            resp.set_header("Cache-Control", "no-store")
        if self._hsts:
            resp.set_header("Strict-Transport-Security", HSTS)
