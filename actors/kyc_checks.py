"""check_pending_kyc: one status call for each session whose webhook never came.

iDenfy sends a session's result by webhook and asks integrators not to poll its status
endpoint; the webhook is tried twice at most, so a result can be lost while our endpoint
is down. A session still pending with no final result ``HERO_KYC_CHECK_AFTER_S`` after it
last moved (its start, or its preliminary result) gets one ``POST /api/v2/status``, whose
answer goes to ``record_kyc_result`` exactly as a webhook's verdict does. ``KycStatusCheck``
records the call, so the session is not asked about again; a call that got no usable
answer is tried again by a later run (``MAX_ATTEMPTS`` in all), and one session that fails
or answers garbage is logged, alerted and left for an operator (``hero-admin kyc check``)
while the run goes on with the others.
"""

from __future__ import annotations

import datetime as dt

import peewee
import structlog

import actors
from actors import RETRY_POLICY, actor
from actors.alerts import raise_alert
from actors.deps import current
from adapters.kyc import KycAnswerInvalid, KycKeysRefused, KycRetryLater
from messages.facts import message_for
from models.kyc import KycVerification
from models.kyc_checks import MAX_ATTEMPTS, KycStatusCheck
from models.kyc_rules import RANK_PRELIMINARY
from wire.times import utcnow

log = structlog.get_logger("hero.kyc")

#: Sessions asked about in one run at most (the scheduler runs the job every 15 minutes).
MAX_PER_RUN = 20


def due(before: dt.datetime, *, limit: int = MAX_PER_RUN) -> list[tuple[str, int, int | None]]:
    """Sessions to ask about: (scanRef, account id, calls made so far or None when never
    taken up), oldest first.

    Pending with no final result (started, or a preliminary result only), decided by
    iDenfy, unchanged since *before*, and not yet checked (or to be tried again).
    """
    check = KycStatusCheck
    query = (
        KycVerification.select(KycVerification.scan_ref, KycVerification.account, check.attempts)
        .join(check, peewee.JOIN.LEFT_OUTER, on=(check.scan_ref == KycVerification.scan_ref))
        .where(
            (KycVerification.provider == "idenfy")
            & (KycVerification.status == "pending")
            & (KycVerification.rank <= RANK_PRELIMINARY)
            & (KycVerification.decided_by == "provider")
            & KycVerification.scan_ref.is_null(False)
            & (KycVerification.updated_at <= before)
            & (
                check.id.is_null()
                | (check.outcome.in_(("calling", "retry")) & (check.attempts < MAX_ATTEMPTS))
            )
        )
        .order_by(KycVerification.updated_at, KycVerification.id)
        .limit(limit)
        .tuples()
    )
    return [(str(s), int(a), None if n is None else int(n)) for s, a, n in query.execute()]


def claim(scan_ref: str, account_id: int, attempts: int | None) -> bool:
    """Count one more call on *scan_ref*; False when another run took it first."""
    if attempts is None:
        return bool(
            KycStatusCheck.insert(scan_ref=scan_ref, account=account_id, attempts=1)
            .on_conflict(action="NOTHING", conflict_target=[KycStatusCheck.scan_ref])
            .as_rowcount()
            .execute()
        )
    return bool(
        KycStatusCheck.update(attempts=attempts + 1, outcome="calling")
        .where((KycStatusCheck.scan_ref == scan_ref) & (KycStatusCheck.attempts == attempts))
        .execute()
    )


def _end(scan_ref: str, outcome: str, note: str) -> None:
    KycStatusCheck.update(outcome=outcome, note=note[:500]).where(
        KycStatusCheck.scan_ref == scan_ref
    ).execute()


def _left(scan_ref: str, why: str) -> None:
    """One session's check failed for good: logged, alerted, left for an operator."""
    _end(scan_ref, "failed", why)
    log.error("kyc.status_check_failed", scan_ref=scan_ref, error=why)
    raise_alert(
        "kyc_status_check",
        scan_ref,
        f"the status of pending session {scan_ref} could not be read ({why}); "
        "run `hero-admin kyc check` for its account",
    )


@actor(queue_name="kyc", **RETRY_POLICY)
def check_pending_kyc() -> dict[str, int]:
    """Periodic: one status call for each session whose webhook never came; the answers
    go to ``record_kyc_result``. What the run did, counted by outcome."""
    deps = current()
    source = deps.kyc_status
    if source is None:
        return {}
    counts: dict[str, int] = {}
    for scan_ref, account_id, taken in due(utcnow() - dt.timedelta(seconds=deps.kyc_check_after_s)):
        if not claim(scan_ref, account_id, taken):
            continue
        attempts = taken or 0
        try:
            fact = source.status(scan_ref)
        except KycKeysRefused as exc:
            # No call can work: give the claim back and say it once.
            KycStatusCheck.update(attempts=attempts, outcome="retry").where(
                KycStatusCheck.scan_ref == scan_ref
            ).execute()
            log.error("kyc.status_keys_refused", error=str(exc))
            raise_alert("kyc_status_keys", "idenfy", str(exc))
            counts["keys_refused"] = 1
            break
        except KycRetryLater as exc:
            if attempts + 1 >= MAX_ATTEMPTS:
                _left(scan_ref, f"{exc}, {attempts + 1} times")
                counts["failed"] = counts.get("failed", 0) + 1
            else:
                _end(scan_ref, "retry", str(exc))
                log.warning("kyc.status_check_retry", scan_ref=scan_ref, error=str(exc))
                counts["retry"] = counts.get("retry", 0) + 1
            if not exc.answered:
                break  # iDenfy is away: the next run tries again
            continue
        except KycAnswerInvalid as exc:
            _left(scan_ref, str(exc))
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        except Exception as exc:  # noqa: BLE001 - one session's surprise must not stop the rest
            _left(scan_ref, f"unexpected {type(exc).__name__}: {exc}"[:300])
            counts["failed"] = counts.get("failed", 0) + 1
            continue
        actors.send(message_for(fact))
        _end(scan_ref, "answered", str(fact.result.get("overall")))
        if fact.result.get("overall") == "UNKNOWN":
            # Kept as pending, and not asked about again: an operator looks at it.
            raise_alert(
                "kyc_status_unknown",
                scan_ref,
                f"iDenfy gave pending session {scan_ref} a status we do not know; it stays "
                "pending: look it up in iDenfy's dashboard",
            )
        counts["answered"] = counts.get("answered", 0) + 1
    if counts:
        log.info("kyc.status_checked", **counts)
    return counts
