"""iDenfy's answer to ``POST /api/v2/status``: one session's verdict, asked for when its
webhook never came.

Follows iDenfy's "Data retrieval" page (the project's iDenfy reference, section 4): the
answer is a flat object with ``status`` (``ACTIVE``, ``REVIEWING`` while a reviewer works,
then the final value), ``autoDocument``, ``autoFace``, ``manualDocument``, ``manualFace``
(empty until reviewed), ``fraudTags``, ``mismatchTags``, ``scanRef`` and ``clientId``.
Each field is checked as the webhook's are; unknown keys are ignored, an unknown status is
kept as ``UNKNOWN`` (the gate stays pending). ``models.kyc_rules.step_of`` decides what a
status answer does to the gate (see docs/decisions.md, "A missed iDenfy webhook").
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from adapters.kyc import idenfy_fields as fields
from adapters.kyc.base import KycAnswerInvalid, KycResult
from adapters.kyc.idenfy_webhook import OVERALL

#: ``KycResult.event_type`` of a status answer (no webhook event has this name).
STATUS_EVENT = "STATUS_CHECK"
#: Status values after which iDenfy sends nothing more for the session.
FINAL = frozenset({"APPROVED", "DENIED", "SUSPECTED", "EXPIRED", "DELETED", "ARCHIVED"})
_CODES = ("autoDocument", "autoFace", "manualDocument", "manualFace")
_TAGS = ("fraudTags", "mismatchTags", "suspicionReasons")


def parse_idenfy_status(raw: bytes, *, scan_ref: str, source: str = "idenfy") -> KycResult:
    """Read the status answer *raw* about *scan_ref*.

    Raises:
        KycAnswerInvalid: naming the field at fault (never anything else).
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise KycAnswerInvalid("body: not JSON") from None
    if not isinstance(data, dict):
        raise KycAnswerInvalid("body: not a JSON object")
    answered_for = _text(data, "scanRef", 64, required=True)
    if answered_for != scan_ref:
        raise KycAnswerInvalid(f"scanRef: the answer is about {answered_for!r}, not {scan_ref!r}")
    client_id = _text(data, "clientId", 100, required=True)
    status = _text(data, "status", 32, required=True)
    assert status is not None
    overall = status.upper() if status.upper() in OVERALL else "UNKNOWN"
    codes = {name: _code(data, name) for name in _CODES}
    tags = {name: _tags(data, name) for name in _TAGS if name in data}
    return KycResult(
        source=source,
        # Prefixed, so a status answer never shares a digest with a webhook body.
        digest=hashlib.sha256(b"status:" + raw).hexdigest(),
        event_type=STATUS_EVENT,
        scan_ref=scan_ref,
        client_id=client_id,
        final=overall in FINAL,
        overall=overall,
        auto_document=codes["autoDocument"],
        auto_face=codes["autoFace"],
        manual_document=codes["manualDocument"],
        manual_face=codes["manualFace"],
        tags=tags,
    )


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    return fields.text(data, name, limit, required=required, error=KycAnswerInvalid)


def _code(data: dict[str, Any], name: str) -> str | None:
    return fields.code(data, name, error=KycAnswerInvalid)


def _tags(data: dict[str, Any], name: str) -> list[str]:
    return fields.tags(data, name, error=KycAnswerInvalid)
