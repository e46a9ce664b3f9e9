"""Operator actions: signed envelopes, verified against the operator keys, always audited.

An envelope is ``{action, args, nonce, issued_at, operator_pubkey, signature}``; the
signature is Ed25519 over the canonical JSON of every field but ``signature``. The nonce
makes each action happen once, however often its message is delivered.
"""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

import nacl.exceptions
import nacl.signing
import structlog

from actors import RETRY_POLICY, actor
from actors.adjustments import balance_adjust
from actors.admin_ops import alert_resolve, payment_refund, pool_retire
from actors.credit_allow import credit_allow
from actors.deps import current
from actors.kyc import operator_set
from actors.ledger import billing_for
from actors.parked import retry_unmatched
from adapters.repo_url import RepoUrlRefused, check_repo_url
from models import Account, AdminAudit, Node, UnmatchedItem, VmPoolSlot, write_transaction
from models.accounts import validate_email
from models.admin_commands import canonical_bytes
from models.admin_commands import make_envelope as make_envelope
from models.admin_commands import stored_outcome as stored_outcome
from models.errors import AdminRefused, InvalidAddress, InvalidEmail
from wire.address import canonical_address
from wire.otoml import NODE_NAME
from wire.times import utcnow

log = structlog.get_logger("hero.admin")

#: Oldest envelope accepted, in seconds; older ones are refused as replays.
MAX_ENVELOPE_AGE_S = 24 * 3600


def check_envelope(envelope: dict[str, Any], *, allowed: tuple[str, ...], now: float) -> None:
    """Verify an envelope's signer and signature.

    Raises:
        AdminRefused: naming why.
    """
    pubkey = envelope.get("operator_pubkey")
    signature = envelope.get("signature")
    if not pubkey or not signature:
        raise AdminRefused("unsigned: set HERO_OPERATOR_KEY to your operator key file")
    if str(pubkey).lower() not in allowed:
        raise AdminRefused(f"operator key {pubkey} is not in HERO_OPERATOR_PUBKEYS")
    try:
        nacl.signing.VerifyKey(bytes.fromhex(pubkey)).verify(
            canonical_bytes(envelope), bytes.fromhex(signature)
        )
    except (ValueError, nacl.exceptions.BadSignatureError):
        raise AdminRefused("signature does not verify") from None
    age = now - int(envelope.get("issued_at", 0))
    if age > MAX_ENVELOPE_AGE_S or age < -300:
        raise AdminRefused(f"issued_at is {int(age)} s away from now; sign a fresh one")


def _audit(envelope: dict[str, Any], outcome: str, reason: str, result: dict[str, Any]) -> bool:
    return bool(
        AdminAudit.insert(
            nonce=envelope["nonce"],
            action=str(envelope.get("action"))[:32],
            args=json.dumps(envelope.get("args", {}), sort_keys=True),
            operator_pubkey=envelope.get("operator_pubkey"),
            outcome=outcome,
            reason=reason,
            result=json.dumps(result, sort_keys=True, default=str),
            created_at=utcnow(),
        )
        .on_conflict(action="NOTHING", conflict_target=[AdminAudit.nonce])
        .as_rowcount()
        .execute()
    )


def _user_add(envelope: dict[str, Any]) -> dict[str, Any]:
    args = envelope["args"]
    try:
        address = canonical_address(str(args.get("address") or ""))
    except InvalidAddress as exc:
        raise AdminRefused(f"address: {exc}") from None
    email = args.get("email")
    if email is not None:
        try:
            email = validate_email(str(email))
        except InvalidEmail as exc:
            raise AdminRefused(f"email: {exc}") from None
    created = bool(
        Account.insert(address=address, email=email, created_at=utcnow())
        .on_conflict(action="NOTHING", conflict_target=[Account.address])
        .as_rowcount()
        .execute()
    )
    billing_for(Account.get(Account.address == address))
    return {"address": address, "created": created}


def _unmatched_retry(envelope: dict[str, Any]) -> dict[str, Any]:
    wanted = [int(i) for i in envelope["args"].get("item_ids") or []]
    results: dict[str, str] = {}
    query = UnmatchedItem.select().where(UnmatchedItem.resolved_at.is_null())
    if wanted:
        known = list(UnmatchedItem.select().where(UnmatchedItem.id.in_(wanted)))
        resolved = {i.id for i in known if i.resolved_at is not None}
        missing = sorted(set(wanted) - {i.id for i in known})
        if missing:
            raise AdminRefused(
                f"item_ids: no parked item with id {', '.join(map(str, missing))}; "
                "see `hero-admin unmatched list --all`"
            )
        results.update({str(i): "already resolved" for i in sorted(resolved)})
        query = query.where(UnmatchedItem.id.in_(wanted))
    for item in query.order_by(UnmatchedItem.id):
        results[str(item.id)] = retry_unmatched(item)
    return {"results": dict(sorted(results.items(), key=lambda kv: int(kv[0])))}


def _node_add(envelope: dict[str, Any]) -> dict[str, Any]:
    args = envelope["args"]
    name = str(args.get("name") or "")
    if NODE_NAME.fullmatch(name) is None:
        raise AdminRefused(f"name: {name!r} is not a node name (a-z, 0-9, '-', '_')")
    pubkey = str(args.get("pubkey") or "").lower()
    try:
        nacl.signing.VerifyKey(bytes.fromhex(pubkey))
    except (ValueError, nacl.exceptions.CryptoError):
        raise AdminRefused("pubkey: must be the node's Ed25519 public key, 64 hex") from None
    try:
        repo = check_repo_url(args.get("repo"))
    except RepoUrlRefused as exc:
        raise AdminRefused(str(exc)) from None
    created = bool(
        Node.insert(name=name, repo_url=repo, pubkey_hex=pubkey, created_at=utcnow())
        .on_conflict(action="NOTHING", conflict_target=[Node.name])
        .as_rowcount()
        .execute()
    )
    if not created:
        Node.update(repo_url=repo, pubkey_hex=pubkey).where(Node.name == name).execute()
    return {"name": name, "created": created}


def _pool_add(envelope: dict[str, Any]) -> dict[str, Any]:
    args = envelope["args"]
    vm_ids = [str(v).strip() for v in args.get("vm_ids") or [] if str(v).strip()]
    if not vm_ids:
        raise AdminRefused("vm_ids: give at least one VM id")
    address = args.get("address")
    if address:
        try:
            address = str(ipaddress.ip_address(str(address)))
        except ValueError:
            raise AdminRefused(f"address: {address!r} is not an IP address") from None
    if address and len(vm_ids) > 1:
        raise AdminRefused("address: give one VM id when you give its address")
    existing = VmPoolSlot.get_or_none(VmPoolSlot.vm_id == vm_ids[0]) if address else None
    if existing is not None and existing.address != address:
        if not args.get("update"):
            raise AdminRefused(
                f"vm_ids: {vm_ids[0]} is already in the pool with address "
                f"{existing.address or '(none)'}; pass --update to change it to {address}"
            )
        VmPoolSlot.update(address=address).where(VmPoolSlot.id == existing.id).execute()
        return {"added": 0, "updated": vm_ids[0], "already_there": 0}
    added = 0
    for vm_id in vm_ids:
        added += (
            VmPoolSlot.insert(vm_id=vm_id, address=address, created_at=utcnow())
            .on_conflict(action="NOTHING", conflict_target=[VmPoolSlot.vm_id])
            .as_rowcount()
            .execute()
        )
    return {"added": added, "already_there": len(vm_ids) - added}


#: What each action does, inside the transaction that audits it.
ACTIONS = {
    "user_add": _user_add,
    "balance_adjust": balance_adjust,
    "unmatched_retry": _unmatched_retry,
    "node_add": _node_add,
    "pool_add": _pool_add,
    "pool_retire": pool_retire,
    "alert_resolve": alert_resolve,
    "payment_refund": payment_refund,
    "kyc_set": operator_set,
    "credit_allow": credit_allow,
}
#: Actions that run their own transactions (one per item, or around a provider's API
#: call, never held open across it) and are audited after.
OWN_TRANSACTIONS = {"unmatched_retry", "payment_refund"}


def handle(envelope: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """Verify and carry out one envelope, once; the refusal or result is audited."""
    if not isinstance(envelope, dict) or not envelope.get("nonce"):
        raise AdminRefused("envelope: missing nonce")
    previous = stored_outcome(envelope["nonce"])
    if previous is not None:
        return previous
    action = ACTIONS.get(str(envelope.get("action")))
    try:
        allowed = tuple(k.lower() for k in current().operator_pubkeys)
        check_envelope(envelope, allowed=allowed, now=time.time() if now is None else now)
        if action is None:
            raise AdminRefused(f"action: unknown action {envelope.get('action')!r}")
        if envelope["action"] in OWN_TRANSACTIONS:
            result = action(envelope)
            _audit(envelope, "applied", "", result)
        else:
            with write_transaction():
                result = action(envelope)
                if not _audit(envelope, "applied", "", result):
                    raise _AlreadyDone
    except _AlreadyDone:
        return stored_outcome(envelope["nonce"]) or {}
    except AdminRefused as exc:
        log.warning("admin.refused", action=envelope.get("action"), reason=str(exc))
        _audit(envelope, "refused", str(exc), {})
        return stored_outcome(envelope["nonce"]) or {"outcome": "refused", "reason": str(exc)}
    log.info("admin.applied", action=envelope["action"], nonce=envelope["nonce"])
    return {"outcome": "applied", "reason": "", **result}


class _AlreadyDone(Exception):
    """Another delivery of the same envelope committed first; roll this one back."""


@actor(queue_name="admin", **RETRY_POLICY)
def admin_command(envelope: dict[str, Any]) -> dict[str, Any]:
    """Carry out one signed operator action."""
    return handle(envelope)
