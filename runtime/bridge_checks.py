"""What the bridge decides about one usage message: apply, term (quarantine) or later.

``check_message`` is pure and never raises: whatever a message holds, the answer is a
``Verdict``. It runs on the bridge's check threads, so it reads nothing but its
arguments (the node keys come from ``NodeKeys``, read on the bridge's database thread).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from models import Node
from wire.nats import MSG_ID_HEADER, SIGNATURE_HEADER
from wire.rules import short_repr, validate_record

#: Characters of a quarantined body kept in its alert.
ALERT_BODY_CHARS = 2048
#: Node keys whose parsed ``VerifyKey`` is kept (a bridge sees one per node).
VERIFY_KEYS_CACHED = 4096


@dataclass(frozen=True)
class Verdict:
    """What to do with one message: ``record`` to apply, or ``term``/``later`` with why."""

    action: str  # apply | term | later
    reason: str = ""
    record: dict[str, Any] | None = None
    node: str = ""


def check_message(
    subject: Any,
    data: Any,
    headers: Any,
    *,
    prefix: str,
    keys: Mapping[str, str],
    now: dt.datetime,
) -> Verdict:
    """Decide a message's fate from its subject, body, headers and the node keys (pure).

    Never raises: whatever the message holds, the answer is a verdict.
    """
    try:
        return _check(subject, data, headers, prefix=prefix, keys=keys, now=now)
    except Exception as exc:  # noqa: BLE001 - a message must never break the loop
        return Verdict(
            "term", f"message cannot be read: {type(exc).__name__}: {short_repr(str(exc))}"
        )


def _check(
    subject: Any, data: Any, headers: Any, *, prefix: str, keys: Mapping[str, str], now: dt.datetime
) -> Verdict:
    if not isinstance(subject, str) or not subject.startswith(prefix + "."):
        return Verdict("term", f"subject {short_repr(subject)} is not {prefix}.<node>")
    node = subject[len(prefix) + 1 :]
    if not isinstance(data, bytes | bytearray):
        return Verdict("term", "body: not bytes", node=node)
    pubkey = keys.get(node)
    if pubkey is None:
        return Verdict("later", f"node {short_repr(node)} is not registered", node=node)
    header = dict(headers) if isinstance(headers, Mapping) else {}
    signature = header.get(SIGNATURE_HEADER)
    try:
        verify_key = _verify_key(pubkey)
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        return Verdict("later", f"node {node!r} has no valid registered key", node=node)
    try:
        if not isinstance(signature, str):
            raise ValueError("missing")
        verify_key.verify(bytes(data), bytes.fromhex(signature))
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        return Verdict(
            "term", f"{SIGNATURE_HEADER}: does not verify with the node's key", node=node
        )
    try:
        raw = json.loads(bytes(data))
    except (ValueError, RecursionError) as exc:
        return Verdict("term", f"body: not JSON: {short_repr(str(exc))}", node=node)
    try:
        record = validate_record(raw, node=node, now=now)
    except ValueError as exc:  # RecordError, naming the field
        return Verdict("term", f"record rejected: {exc}", node=node)
    if header.get(MSG_ID_HEADER) != record.key:
        return Verdict("term", f"{MSG_ID_HEADER}: is not the record key {record.key}", node=node)
    return Verdict("apply", record=record.to_json(), node=node)


@functools.lru_cache(maxsize=VERIFY_KEYS_CACHED)
def _verify_key(pubkey_hex: str) -> nacl.signing.VerifyKey:
    """The parsed key of a node, built once per key rather than once per message.

    Raises:
        ValueError, TypeError, nacl.exceptions.CryptoError: not an ed25519 public key
        (never cached: the next message of that node tries again).
    """
    return nacl.signing.VerifyKey(bytes.fromhex(pubkey_hex))


class NodeKeys:
    """Registered node keys, re-read from the database at most every *ttl_s* seconds."""

    def __init__(self, ttl_s: float = 30.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._keys: dict[str, str] = {}
        self._loaded: float | None = None

    def get(self, *, force: bool = False) -> dict[str, str]:
        if force or not self._fresh():
            self._keys = {n.name: n.pubkey_hex for n in Node.select(Node.name, Node.pubkey_hex)}
            self._loaded = self._clock()
        return self._keys

    def cached(self) -> dict[str, str] | None:
        """The keys when read less than *ttl_s* ago, else None: known without a thread hop
        (the database thread may be busy with a delivery)."""
        return self._keys if self._fresh() else None

    def _fresh(self) -> bool:
        return self._loaded is not None and self._clock() - self._loaded <= self._ttl_s


def stream_sequence(msg: Any) -> int | None:
    """The message's sequence number in its stream, or None when it has none."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:  # noqa: BLE001 - an odd reply subject: the alert just lacks it
        return None


def quarantine_alert(msg: Any, verdict: Verdict) -> tuple[str, str, str, dict[str, Any]]:
    """The alert (kind, subject, message, details) that quarantines a terminated message."""
    seq = stream_sequence(msg)
    headers = dict(msg.headers) if isinstance(msg.headers, Mapping) else {}
    body = bytes(msg.data or b"")[:ALERT_BODY_CHARS].decode("utf-8", "replace")
    kind = "bad_signature" if verdict.reason.startswith(SIGNATURE_HEADER) else "records_rejected"
    message = f"NATS {str(msg.subject)[:200]} seq {seq}: {verdict.reason}"
    details = {
        "node": verdict.node or None,
        "subject": msg.subject,
        "stream_seq": seq,
        "msg_id": headers.get(MSG_ID_HEADER),
        "reason": verdict.reason,
        "body": body,
    }
    return kind, verdict.node or "?", message, details
