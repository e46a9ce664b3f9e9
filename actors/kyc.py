"""record_kyc_result: a provider's verification result, recorded once; the gate's reads.

Idempotency lives in the database: ``KycEvent`` is unique by the SHA-256 of the raw
webhook body, written in the transaction that moves the account's state, so a redelivered
webhook changes nothing. Which result wins is decided by ``actors.kyc_rules``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

import structlog

from actors import RETRY_POLICY, actor
from actors.alerts import raise_alert
from actors.deps import current
from actors.kyc_rules import (
    MAY_START,
    RANK_OPERATOR,
    RANK_PRELIMINARY,
    applies,
    reasons_of,
    refusal,
    step_of,
)
from adapters.kyc.base import KycProvider
from models import Account, db, utcnow, write_transaction
from models.errors import AdminRefused, HeroError
from models.kyc import KycEvent, KycVerification

log = structlog.get_logger("hero.kyc")

class KycClosed(HeroError):
    """The user may not start a verification now; the message says why and what to do."""


class PermanentKycError(Exception):
    """A result message that can never be recorded as sent."""


def gate_refusal(account: Account | int, action: str) -> str | None:
    """Why *account* may not do *action* (``plan`` or ``topup``) now; None when it may."""
    row = KycVerification.get_or_none(KycVerification.account == account)
    return refusal(action, row.status if row else "none", required_for=current().kyc_required_for)


def _locked(account: Account, provider: str) -> KycVerification:
    KycVerification.insert(
        account=account, client_id=f"hk{secrets.token_hex(16)}", provider=provider
    ).on_conflict(action="NOTHING", conflict_target=[KycVerification.account]).execute()
    query = KycVerification.select().where(KycVerification.account == account)
    if db.obj.for_update:
        query = query.for_update()
    row: KycVerification = query.get()
    return row


def start_session(
    account: Account, provider: KycProvider, *, return_url: str, now: dt.datetime
) -> str:
    """Start (or resume) *account*'s verification; where to send the browser.

    One open session per account: while its link lives it is reused, never paid twice.

    Raises:
        KycClosed: verified already, decided against, or under review.
        KycUnavailable: the provider could not start one.
    """
    with write_transaction():
        row = _locked(account, provider.name)
        if row.status not in MAY_START or (row.status == "pending" and row.rank > 0):
            raise KycClosed(row.status)
        live = row.session_expires_at is not None and row.session_expires_at > now
        if row.status == "pending" and row.redirect_url and live:
            return str(row.redirect_url)
        session = provider.start(client_id=row.client_id, return_url=return_url)
        KycVerification.update(
            provider=provider.name,
            status="pending",
            rank=0,
            scan_ref=session.scan_ref,
            redirect_url=session.redirect_url,
            session_expires_at=now + dt.timedelta(seconds=session.expires_in_s),
            reasons="[]",
            decided_by="provider",
            updated_at=now,
        ).where(KycVerification.id == row.id).execute()
    log.info("kyc.started", account=account.id, provider=provider.name, scan_ref=session.scan_ref)
    return session.redirect_url


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
    row = _locked(account, "operator")
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


def status_of(account: Account, *, history: bool = False) -> dict[str, Any]:
    """An account's verification as shown to its owner and to operators."""
    row = KycVerification.get_or_none(KycVerification.account == account)
    view: dict[str, Any] = {
        "status": row.status if row else "none",
        "reviewing": bool(row and row.status == "pending" and row.rank == RANK_PRELIMINARY),
        "provider": row.provider if row else None,
        "scan_ref": row.scan_ref if row else None,
        "reasons": json.loads(row.reasons) if row else [],
        "decided_by": row.decided_by if row else None,
        "updated_at": row.updated_at.isoformat() + "Z" if row else None,
        "may_start": bool(
            row is None or (row.status in MAY_START and not (row.status == "pending" and row.rank))
        ),
        "required_for": current().kyc_required_for,
    }
    if history:
        view["history"] = [_event_view(e) for e in _history(account)]
    return view


def _history(account: Account) -> list[KycEvent]:
    return list(KycEvent.select().where(KycEvent.account == account).order_by(KycEvent.id))


def _event_view(event: KycEvent) -> dict[str, Any]:
    return {
        "received_at": event.received_at.isoformat() + "Z",
        "source": event.source,
        "event_type": event.event_type,
        "scan_ref": event.scan_ref,
        "final": event.final,
        "overall": event.overall,
        "codes": [
            c
            for c in (
                event.auto_document,
                event.auto_face,
                event.manual_document,
                event.manual_face,
            )
            if c
        ],
        "tags": json.loads(event.tags),
        "effect": event.effect,
        "state": event.state,
        "note": event.note,
    }
