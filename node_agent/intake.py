"""The local intake endpoint: services on the host ``POST /usage`` instead of running the CLI.

``POST /usage`` with a JSON object (``user``, ``resource_kind``, ``quantity``,
``amount_cents``, optional ``applies_to`` and ``occurred_at``) answers ``201 {"key": ...}``
once the record is durable in the journal; ``400 {"error", "field"}`` names the field that
is wrong; ``503`` when the journal cannot store it (nothing was stored: send again).
``GET /healthz`` answers 200 while the endpoint serves.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import falcon
import structlog

from models.otoml import RecordError, UsageIn
from node_agent.records import field_of

log = structlog.get_logger("hero.node.intake")

#: The largest request body accepted, in bytes.
MAX_BODY_BYTES = 64 * 1024

#: Validates and journals one report; raises ``RecordError`` or ``sqlite3.Error``.
RecordFn = Callable[[Any], UsageIn]


class UsageResource:
    """``/usage``: one report in, its key out."""

    def __init__(self, *, record: RecordFn) -> None:
        self._record = record

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length or 0
        if length > MAX_BODY_BYTES:
            _error(resp, falcon.HTTP_413, "body", f"larger than {MAX_BODY_BYTES} bytes")
            return
        try:
            raw = json.loads(req.bounded_stream.read() or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            _error(resp, falcon.HTTP_400, "body", f"not JSON: {exc}")
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


class HealthResource:
    """``/healthz``: the process answers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


def _error(resp: falcon.Response, status: str, field: str, message: str) -> None:
    resp.status = status
    resp.media = {"error": message, "field": field}


def create_intake_app(*, record: RecordFn) -> falcon.App[falcon.Request, falcon.Response]:
    """The intake WSGI app; *record* validates and journals a report."""
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App()
    app.add_route("/usage", UsageResource(record=record))
    app.add_route("/healthz", HealthResource())
    return app
