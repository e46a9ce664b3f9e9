"""iDenfy's result webhooks: the signature over the raw body, then the fields the gate uses.

Follows iDenfy's callback signing page (HMAC-SHA256 of the exact body, hex, in
``Idenfy-Signature``) and the ``IdentificationWebhook`` schema of its KYC OpenAPI file.
Everything else in the body (document data, file URLs, IP, AML details) is dropped here,
so no personal data reaches the broker or the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from adapters.kyc import idenfy_fields as fields
from adapters.kyc.base import KycResult
from adapters.payments.base import WebhookRejected
from messages.facts import Fact, KycChecked

#: Event names as sent in ``Idenfy-Event-Type``, older spellings mapped to current ones.
EVENT_NAMES = {
    "IDENTIFICATION": "IDENTIFICATION",
    "IDENTIFICATION_AUTO_FINISHED": "IDENTIFICATION_AUTO_FINISHED",
    "IDENTIFICATION_MANUAL_FINISHED": "IDENTIFICATION_MANUAL_FINISHED",
    "IDENTIFICATION_RESUBMITTED": "IDENTIFICATION_RESUBMITTED",
    "IDENTIFICATION_CANCELLED": "IDENTIFICATION_CANCELLED",
    "IDENTIFICATION_CANCELED": "IDENTIFICATION_CANCELLED",
    "IDENTIFICATION_EXPIRED": "IDENTIFICATION_EXPIRED",
    "DOCUMENT_EXPIRATION": "DOCUMENT_EXPIRATION",
    "ID VERIFICATION AUTO FINISH": "IDENTIFICATION_AUTO_FINISHED",
    "ID VERIFICATION MANUAL FINISH": "IDENTIFICATION_MANUAL_FINISHED",
    "ID VERIFICATION CANCELED": "IDENTIFICATION_CANCELLED",
    "ID VERIFICATION CANCELLED": "IDENTIFICATION_CANCELLED",
    "ID VERIFICATION EXPIRED": "IDENTIFICATION_EXPIRED",
}
#: ``status.overall`` values of the spec; anything else is kept as UNKNOWN (pending).
OVERALL = frozenset(
    {"APPROVED", "DENIED", "SUSPECTED", "REVIEWING", "EXPIRED", "ACTIVE", "DELETED", "ARCHIVED"}
)
_CODES = ("autoDocument", "autoFace", "manualDocument", "manualFace")
_TAGS = ("fraudTags", "mismatchTags", "suspicionReasons")


def sign(body: bytes, key: str) -> str:
    """The ``Idenfy-Signature`` value of *body* under *key*."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, key: str) -> None:
    """Raises: WebhookRejected when the header is missing or does not match."""
    if not header:
        raise WebhookRejected("Idenfy-Signature: missing")
    if not hmac.compare_digest(sign(body, key), header.strip().lower()):
        raise WebhookRejected("Idenfy-Signature: does not match the body")


def parse_idenfy_webhook(
    body: bytes, headers: dict[str, str], *, signing_key: str, source: str = "idenfy"
) -> list[Fact]:
    """Verify and read one iDenfy webhook (*headers* with lower-case names).

    Raises:
        WebhookRejected: naming the header or field at fault.
    """
    verify_signature(body, headers.get("idenfy-signature"), signing_key)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("body: not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected("body: not a JSON object")
    result = read_result(data, headers.get("idenfy-event-type"), body, source=source)
    return [KycChecked(result=result.as_message())]


def read_result(
    data: dict[str, Any], event_header: str | None, body: bytes, *, source: str
) -> KycResult:
    """The gate's facts of a verified webhook body. Raises: WebhookRejected."""
    event = _event_type(event_header, data)
    scan_ref = _text(data, "scanRef", 64, required=True)
    assert scan_ref is not None
    client_id = _text(data, "clientId", 100, required=event != "DOCUMENT_EXPIRATION")
    final = data.get("final")
    if final is not None and not isinstance(final, bool):
        raise WebhookRejected("final: must be true or false")
    status = data.get("status")
    overall: str | None = None
    codes: dict[str, str | None] = dict.fromkeys(_CODES)
    tags: dict[str, list[str]] = {}
    if event != "DOCUMENT_EXPIRATION":
        if not isinstance(status, dict):
            raise WebhookRejected("status: missing or not an object")
        overall = _text(status, "overall", 32, required=True, prefix="status.")
        assert overall is not None
        overall = overall.upper() if overall.upper() in OVERALL else "UNKNOWN"
        for name in _CODES:
            codes[name] = _code(status, name)
        for name in _TAGS:
            if (found := _tags(status, name)) or name in status:
                tags[name] = found
        if "suspicionReasons" in data and "suspicionReasons" not in tags:
            tags["suspicionReasons"] = _tags(data, "suspicionReasons", prefix="")
    return KycResult(
        source=source,
        digest=hashlib.sha256(body).hexdigest(),
        event_type=event,
        scan_ref=scan_ref,
        client_id=client_id,
        final=final,
        overall=overall,
        auto_document=codes["autoDocument"],
        auto_face=codes["autoFace"],
        manual_document=codes["manualDocument"],
        manual_face=codes["manualFace"],
        tags=tags,
    )


def _event_type(header: str | None, data: dict[str, Any]) -> str:
    if header is None:
        # Without the header (older deliveries), the body alone: the catch-all event.
        return "DOCUMENT_EXPIRATION" if "documentExpiration" in data else "IDENTIFICATION"
    name = EVENT_NAMES.get(header.strip().upper())
    if name is None:
        raise WebhookRejected(f"Idenfy-Event-Type: unknown event {header[:60]!r}")
    return name


def _text(
    obj: dict[str, Any], name: str, limit: int, *, required: bool, prefix: str = ""
) -> str | None:
    return fields.text(obj, name, limit, required=required, error=WebhookRejected, prefix=prefix)


def _code(status: dict[str, Any], name: str) -> str | None:
    return fields.code(status, name, error=WebhookRejected, prefix="status.")


def _tags(obj: dict[str, Any], name: str, prefix: str = "status.") -> list[str]:
    return fields.tags(obj, name, error=WebhookRejected, prefix=prefix)
