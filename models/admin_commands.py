"""Operator commands as hero-admin and the web console build them, and their outcomes.

An envelope names an action and its arguments, a nonce and when it was issued, and is
signed with the operator's Ed25519 key over ``canonical_bytes``; ``actors.admin`` checks
and carries it out and records its outcome under the nonce, read back by
``stored_outcome``.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import nacl.signing

from models import AdminAudit
from models.errors import AdminRefused
from models.money import (
    MAX_ADJUSTMENT_CENTS,
    MAX_BALANCE_CENTS,
    AmountOutOfBounds,
    check_cents,
    format_cents,
)


def canonical_bytes(envelope: dict[str, Any]) -> bytes:
    """The bytes an envelope's signature covers: every field but the signature, sorted.

    >>> canonical_bytes({"b": 1, "a": "x", "signature": "ff"})
    b'{"a":"x","b":1}'
    """
    signed = {k: v for k, v in envelope.items() if k != "signature"}
    return json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()


def make_envelope(
    action: str,
    args: dict[str, Any],
    *,
    signing_key: nacl.signing.SigningKey | None,
    now: float | None = None,
) -> dict[str, Any]:
    """Build an envelope for *action*, signed when a key is given."""
    envelope: dict[str, Any] = {
        "action": action,
        "args": args,
        "nonce": secrets.token_hex(16),
        "issued_at": int(now if now is not None else time.time()),
        "operator_pubkey": signing_key.verify_key.encode().hex() if signing_key else None,
    }
    envelope["signature"] = (
        signing_key.sign(canonical_bytes(envelope)).signature.hex() if signing_key else None
    )
    return envelope


def stored_outcome(nonce: str) -> dict[str, Any] | None:
    """The outcome recorded for *nonce*, or None when it has not been handled yet."""
    row = AdminAudit.get_or_none(AdminAudit.nonce == nonce)
    if row is None:
        return None
    return {"outcome": row.outcome, "reason": row.reason, **json.loads(row.result)}


def adjustment_cents(args: dict[str, Any], *, balance_cents: int) -> int:
    """The change an adjustment asks for: ``by_cents``, or ``to_cents`` less the balance.

    Every adjustment is bounded: ``to_cents`` within plus or minus ``MAX_BALANCE_CENTS``,
    and the change either way within ``MAX_ADJUSTMENT_CENTS``.

    Raises:
        AdminRefused: naming the argument that is missing, not whole cents or out of bounds.

    >>> adjustment_cents({"by_cents": -250}, balance_cents=1000)
    -250
    >>> adjustment_cents({"to_cents": 400}, balance_cents=1000)
    -600
    >>> adjustment_cents({"to_cents": 1, "by_cents": 1}, balance_cents=0)
    Traceback (most recent call last):
    ...
    models.errors.AdminRefused: give exactly one of to_cents and by_cents
    """
    to_cents, by_cents = args.get("to_cents"), args.get("by_cents")
    if (to_cents is None) == (by_cents is None):
        raise AdminRefused("give exactly one of to_cents and by_cents")
    try:
        if to_cents is not None:
            target = check_cents("to_cents", to_cents, limit=MAX_BALANCE_CENTS)
            name, amount = "to_cents", target - balance_cents
        else:
            name = "by_cents"
            amount = check_cents("by_cents", by_cents, limit=MAX_ADJUSTMENT_CENTS)
    except AmountOutOfBounds as exc:
        raise AdminRefused(str(exc)) from None
    if abs(amount) > MAX_ADJUSTMENT_CENTS:
        raise AdminRefused(
            f"{name}: a change of {format_cents(amount)} is more than one adjustment may "
            f"make ({format_cents(MAX_ADJUSTMENT_CENTS)} either way); nothing was changed"
        )
    return amount
