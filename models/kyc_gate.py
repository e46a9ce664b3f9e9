"""The KYC gate as the pages and the workers read it, and a verification started.

``record_kyc_result`` (``actors.kyc``) moves the state when a result arrives; this module
holds what does not need a worker: who may pass the gate, the state shown to the owner and
to operators, and starting (or resuming) a session with the provider.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any, Protocol

import structlog

from models.accounts import Account
from models.db import db, write_transaction
from models.errors import HeroError
from models.kyc import KycEvent, KycVerification
from models.kyc_rules import MAY_START, RANK_PRELIMINARY, refusal
from wire.times import iso_z

log = structlog.get_logger("hero.kyc")


class StartedSession(Protocol):
    """Where the provider sends the browser, its reference, and how long the link lives."""

    @property
    def redirect_url(self) -> str: ...
    @property
    def scan_ref(self) -> str: ...
    @property
    def expires_in_s(self) -> int: ...


class SessionStarter(Protocol):
    """A verification provider, as far as starting a session goes (``adapters.kyc``)."""

    @property
    def name(self) -> str: ...
    def start(self, *, client_id: str, return_url: str) -> StartedSession: ...


class KycClosed(HeroError):
    """The user may not start a verification now; the message says why and what to do."""


def gate_refusal(account: Account | int, action: str, *, required_for: str) -> str | None:
    """Why *account* may not do *action* (``plan`` or ``topup``) now; None when it may.

    *required_for* is ``HERO_KYC_REQUIRED_FOR``: none, plan or topup.
    """
    row = KycVerification.get_or_none(KycVerification.account == account)
    return refusal(action, row.status if row else "none", required_for=required_for)


def locked_verification(account: Account, provider: str) -> KycVerification:
    """*account*'s verification row, made if missing, locked for the transaction."""
    KycVerification.insert(
        account=account, client_id=f"hk{secrets.token_hex(16)}", provider=provider
    ).on_conflict(action="NOTHING", conflict_target=[KycVerification.account]).execute()
    query = KycVerification.select().where(KycVerification.account == account)
    if db.obj.for_update:
        query = query.for_update()
    row: KycVerification = query.get()
    return row


def start_session(
    account: Account, provider: SessionStarter, *, return_url: str, now: dt.datetime
) -> str:
    """Start (or resume) *account*'s verification; where to send the browser.

    One open session per account: while its link lives it is reused, never paid twice.

    Raises:
        KycClosed: verified already, decided against, or under review.
        KycUnavailable: the provider could not start one.
    """
    with write_transaction():
        row = locked_verification(account, provider.name)
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


def status_of(account: Account, *, required_for: str, history: bool = False) -> dict[str, Any]:
    """An account's verification as shown to its owner and to operators."""
    row = KycVerification.get_or_none(KycVerification.account == account)
    view: dict[str, Any] = {
        "status": row.status if row else "none",
        "reviewing": bool(row and row.status == "pending" and row.rank == RANK_PRELIMINARY),
        "provider": row.provider if row else None,
        "scan_ref": row.scan_ref if row else None,
        "reasons": json.loads(row.reasons) if row else [],
        "decided_by": row.decided_by if row else None,
        "updated_at": iso_z(row.updated_at) if row else None,
        "may_start": bool(
            row is None or (row.status in MAY_START and not (row.status == "pending" and row.rank))
        ),
        "required_for": required_for,
    }
    if history:
        view["history"] = [_event_view(e) for e in _history(account)]
    return view


def _history(account: Account) -> list[KycEvent]:
    return list(KycEvent.select().where(KycEvent.account == account).order_by(KycEvent.id))


def _event_view(event: KycEvent) -> dict[str, Any]:
    return {
        "received_at": iso_z(event.received_at),
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
