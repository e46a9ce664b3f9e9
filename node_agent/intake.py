"""The local intake endpoint: services on the host ``POST /usage`` instead of running the CLI.

``POST /usage`` with a JSON object (``user``, ``resource_kind``, ``quantity``,
``amount_cents``, optional ``applies_to`` and ``occurred_at``) answers ``201 {"key": ...}``
once the record is durable in the journal. Every answer but 201 is
``{"error", "field"}``:

- ``403`` the request carries an ``Origin`` header: it comes from a web page (a browser
  on the host sends one with every cross-origin POST), never from a service;
- ``401`` no ``Authorization: Bearer <token>`` with the node's intake token;
- ``415`` the ``Content-Type`` is not ``application/json`` (so no HTML form can post);
- ``413`` the body is larger than ``MAX_BODY_BYTES``;
- ``400`` the body is not JSON or a field is wrong (``field`` names it);
- ``503`` the journal cannot store the record (nothing was stored: send again).

``GET /healthz`` answers 200 while the endpoint serves (no token: it reveals nothing).
``GET /credit/{address}`` answers an account's credit state (``node_agent.credit_route``)
when the agent watches the credit bucket.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import falcon
import structlog

from node_agent.credit import CreditBook
from node_agent.credit_route import CreditResource
from node_agent.records import field_of
from wire.otoml import RecordError, UsageIn

log = structlog.get_logger("hero.node.intake")

#: The largest request body accepted, in bytes.
MAX_BODY_BYTES = 64 * 1024
#: The only media type a report may be sent as.
JSON_TYPE = "application/json"

#: Validates and journals one report; raises ``RecordError`` or ``sqlite3.Error``.
RecordFn = Callable[[Any], UsageIn]


class UsageResource:
    """``/usage``: one report in, its key out."""

    def __init__(self, *, record: RecordFn, token: str) -> None:
        if not token:
            raise ValueError("token: the intake needs a non-empty token")
        self._record = record
        self._expected = f"Bearer {token}".encode()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        refusal = self._refusal(req)
        if refusal is not None:
            _error(resp, *refusal)
            return
        ok, raw = _body(req, resp)
        if not ok:
            return
        try:
            record = self._record(raw)
        except RecordError as exc:
            _error(resp, falcon.HTTP_400, field_of(exc), str(exc))
            return
        except sqlite3.Error as exc:
            log.error("intake.journal_failed", error=str(exc))
            _error(resp, falcon.HTTP_503, "journal", "the record could not be stored; retry")
            return
        resp.status = falcon.HTTP_201
        resp.media = {"key": record.key}

    def _refusal(self, req: falcon.Request) -> tuple[str, str, str] | None:
        """Why the request is refused before its body is read, or None."""
        if req.get_header("Origin") is not None:
            log.warning("intake.cross_origin_refused", origin=req.get_header("Origin"))
            return (
                falcon.HTTP_403,
                "Origin",
                "requests from web pages are refused; services post without Origin",
            )
        given = (req.get_header("Authorization") or "").encode()
        if not hmac.compare_digest(given, self._expected):
            log.warning("intake.unauthorized", remote=req.remote_addr, sent_token=bool(given))
            return (
                falcon.HTTP_401,
                "Authorization",
                "missing or wrong token; send Authorization: Bearer <intake token>",
            )
        media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
        if media_type != JSON_TYPE:
            return (
                falcon.HTTP_415,
                "Content-Type",
                f"must be {JSON_TYPE}, not {req.content_type or 'missing'!r}",
            )
        if (req.content_length or 0) > MAX_BODY_BYTES:
            return falcon.HTTP_413, "body", f"larger than {MAX_BODY_BYTES} bytes"
        return None


def _body(req: falcon.Request, resp: falcon.Response) -> tuple[bool, Any]:
    """``(True, parsed JSON body)``, or ``(False, None)`` with the answer set on *resp*."""
    data = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        _error(resp, falcon.HTTP_413, "body", f"larger than {MAX_BODY_BYTES} bytes")
        return False, None
    try:
        return True, json.loads(data.decode("utf-8") or "null")
    except UnicodeDecodeError:
        _error(resp, falcon.HTTP_400, "body", "not UTF-8")
    except (ValueError, RecursionError) as exc:
        _error(resp, falcon.HTTP_400, "body", f"not JSON: {str(exc)[:200]}")
    return False, None


class HealthResource:
    """``/healthz``: the process answers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


def _error(resp: falcon.Response, status: str, field: str, message: str) -> None:
    resp.status = status
    resp.media = {"error": message, "field": field}
    if status == falcon.HTTP_401:
        resp.set_header("WWW-Authenticate", "Bearer")


def create_intake_app(
    *, record: RecordFn, token: str, credit: CreditBook | None = None
) -> falcon.App[falcon.Request, falcon.Response]:
    """The intake WSGI app.

    Args:
        record: validates and journals a report.
        token: the bearer token every ``POST /usage`` (and ``GET /credit``) must carry.
        credit: the credit states this agent knows (no ``/credit`` route without).

    Raises:
        ValueError: *token* is empty.
    """
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App()
    app.add_route("/usage", UsageResource(record=record, token=token))
    app.add_route("/healthz", HealthResource())
    if credit is not None:
        app.add_route("/credit/{address}", CreditResource(book=credit, token=token))
    return app
