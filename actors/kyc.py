"""record_kyc_result: a provider's verification result, recorded once; the gate's reads.

Idempotency lives in the database: ``KycEvent`` is unique by the SHA-256 of the raw
webhook body, written in the transaction that moves the account's state, so a redelivered
webhook changes nothing. Which result wins is decided by ``models.kyc_rules``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import structlog

from actors import RETRY_POLICY, actor
from actors.alerts import raise_alert
from actors.deps import current
from models import Account, db, write_transaction
from models.errors import AdminRefused
from models.kyc import KycEvent, KycVerification
from models.kyc_gate import gate_refusal as gate_for
from models.kyc_gate import locked_verification
from models.kyc_gate import status_of as status_for
from models.kyc_rules import (
    RANK_OPERATOR,
    RANK_PRELIMINARY,
    applies,
    reasons_of,
    step_of,
)
from wire.times import utcnow

log = structlog.get_logger("hero.kyc")


class PermanentKycError(Exception):
    """A result message that can never be recorded as sent."""


def _check(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise PermanentKycError("result: not an object")
    for name in ("digest", "event_type", "scan_ref", "source"):
        if not isinstance(result.get(name), str) or not result[name]:
            raise PermanentKycError(f"{name}: missing or not a string")
    return result


def record(result: dict[str, Any], *, now: dt.datetime) -> str:
    """Record one result and move the account's state if it wins; what it did."""
    result = _check(result)
    step = step_of(result)
    with write_transaction():
        row = None
        if result.get("client_id"):
            row = KycVerification.get_or_none(KycVerification.client_id == result["client_id"])
        if row is None:
            row = KycVerification.get_or_none(KycVerification.scan_ref == result["scan_ref"])
        if row is not None and db.obj.for_update:
            row = KycVerification.select().where(KycVerification.id == row.id).for_update().get()
        effect = "unmatched"
        if row is not None:
            same = row.scan_ref == result["scan_ref"]
            won = applies(
                step,
                current_rank=row.rank,
                same_session=same,
                by_operator=row.decided_by == "operator",
            )
            effect = "applied" if won else "ignored"
        inserted = (
            KycEvent.insert(
                account=row.account_id if row else None,
                digest=result["digest"],
                source=result["source"],
                event_type=result["event_type"],
                scan_ref=result["scan_ref"],
                client_id=result.get("client_id"),
                final=result.get("final"),
                overall=result.get("overall"),
                auto_document=result.get("auto_document"),
                auto_face=result.get("auto_face"),
                manual_document=result.get("manual_document"),
                manual_face=result.get("manual_face"),
                tags=json.dumps(result.get("tags") or {}, sort_keys=True),
                effect=effect,
                state=step.state if effect == "applied" else None,
                received_at=now,
            )
            .on_conflict(action="NOTHING", conflict_target=[KycEvent.digest])
            .as_rowcount()
            .execute()
        )
        if not inserted:
            return "duplicate"
        if row is not None and effect == "applied":
            KycVerification.update(
                status=step.state,
                rank=step.rank,
                reasons=json.dumps(reasons_of(result)),
                redirect_url=row.redirect_url if step.rank == RANK_PRELIMINARY else None,
                updated_at=now,
            ).where(KycVerification.id == row.id).execute()
        if row is None:
            raise_alert(
                "kyc_unmatched",
                result["scan_ref"],
                f"a verification result for unknown session {result['scan_ref']} was kept",
            )
    log.info("kyc.result", scan_ref=result["scan_ref"], effect=effect, state=step.state)
    return effect


@actor(queue_name="kyc", throws=(PermanentKycError,), **RETRY_POLICY)
def record_kyc_result(result: dict[str, Any]) -> str:
    """Record a verified provider result, once."""
    return record(result, now=utcnow())


def operator_set(envelope: dict[str, Any]) -> dict[str, Any]:
    """The signed ``kyc_set`` action: an operator approves or denies an account."""
    from models.errors import InvalidAddress
    from wire.address import canonical_address

    args = envelope["args"]
    try:
        address = canonical_address(str(args.get("address") or ""))
    except InvalidAddress as exc:
        raise AdminRefused(f"address: {exc}") from None
    status = args.get("status")
    if status not in ("approved", "denied"):
        raise AdminRefused(f"status: must be approved or denied, not {status!r}")
    reason = str(args.get("reason") or "").strip()
    if not reason or len(reason) > 500:
        raise AdminRefused("reason: give why, in at most 500 characters")
    account = Account.get_or_none(Account.address == address)
    if account is None:
        raise AdminRefused(f"address: no account for {address}")
    row = locked_verification(account, "operator")
    now = utcnow()
    KycVerification.update(
        status=status,
        rank=RANK_OPERATOR,
        decided_by="operator",
        redirect_url=None,
        reasons=json.dumps(["OPERATOR"]),
        updated_at=now,
    ).where(KycVerification.id == row.id).execute()
    KycEvent.create(
        account=account,
        digest=hashlib.sha256(f"operator:{envelope['nonce']}".encode()).hexdigest(),
        source="operator",
        event_type="OPERATOR_DECISION",
        scan_ref=row.scan_ref,
        effect="applied",
        state=status,
        note=reason,
        received_at=now,
    )
    return {"address": address, "status": status, "previous": row.status}


def gate_refusal(account: Account | int, action: str) -> str | None:
    """``models.kyc_gate.gate_refusal`` under this process's ``HERO_KYC_REQUIRED_FOR``."""
    return gate_for(account, action, required_for=current().kyc_required_for)


def status_of(account: Account, *, history: bool = False) -> dict[str, Any]:
    """``models.kyc_gate.status_of`` under this process's ``HERO_KYC_REQUIRED_FOR``."""
    return status_for(account, required_for=current().kyc_required_for, history=history)
