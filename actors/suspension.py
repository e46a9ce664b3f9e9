"""Suspension: an account exhausted for longer than ``HERO_SUSPEND_AFTER_S`` has its VMs
suspended through the ``Provisioner``; a balance lifted above its limit resumes them.

The periodic ``suspend_exhausted`` actor looks at the credit states. An account exhausted
for three quarters of the grace period is told its VMs will be suspended; one exhausted
for the whole period has its VMs suspended and its state set to ``suspended``, published
to the hosts like every state. Each account is handled in its own transaction under its
billing row lock, so a payment committed at the same moment either comes first (nothing
is suspended) or after (and resumes what was suspended). Resumption happens in the ledger
transaction that lifts the balance (``actors.credit.record_change`` calls ``resume``).

Every step writes one notification per crossing, keyed by the time the account went to
or under its limit, so a job run twice, or two schedulers, tell the user once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from actors import RETRY_POLICY, actor
from actors.credit import notify, policy
from actors.deps import current
from actors.ledger import lock_billing
from actors.plans import Provisioner
from models import write_transaction
from models.credit import CreditState, warn_after_s
from models.fields import stored
from wire.times import iso_z, utcnow

log = structlog.get_logger("hero.suspension")


def crossing_of(row: CreditState) -> str:
    """The key of *row*'s current stay at or under its limit: when it began, in the naive
    UTC form the keys were first written in (so a stay keeps its key, and its one notice)."""
    since: dt.datetime = row.exhausted_since or row.updated_at
    return stored(since).isoformat()


def _exhausted_since_before(moment: dt.datetime) -> Any:
    return (
        (CreditState.state == "exhausted")
        & CreditState.suspended_at.is_null()
        & CreditState.exhausted_since.is_null(False)
        & (CreditState.exhausted_since <= moment)
    )


def run(now: dt.datetime, provisioner: Provisioner | None = None) -> dict[str, int]:
    """Suspend the accounts exhausted for the whole grace period, warn those near it.

    An account that fails (its provisioner raises, its row is broken) is logged and
    left for the next run; the others are still handled.
    """
    provisioner = provisioner or current().provisioner
    grace = dt.timedelta(seconds=policy().suspend_after_s)
    counts = {"suspended": 0, "warned": 0, "failed": 0}
    due = [
        int(r.account_id)
        for r in CreditState.select(CreditState.account).where(_exhausted_since_before(now - grace))
    ]
    for account_id in due:
        try:
            with write_transaction():
                counts["suspended"] += suspend(account_id, now, provisioner)
        except Exception as exc:  # noqa: BLE001 - one account must not stop the others
            counts["failed"] += 1
            log.exception("suspension.failed", account=account_id, error=repr(exc))
    warn_at = now - dt.timedelta(seconds=warn_after_s(policy().suspend_after_s))
    for row in CreditState.select().where(_exhausted_since_before(warn_at)):
        suspend_at = (row.exhausted_since or now) + grace
        counts["warned"] += notify(
            int(row.account_id),
            "credit_suspension_coming",
            crossing=crossing_of(row),
            payload={
                "balance_cents": int(row.balance_cents),
                "suspend_at": iso_z(suspend_at),
            },
        )
    if any(counts.values()):
        log.info("suspension.run", **counts)
    return counts


def suspend(account_id: int, now: dt.datetime, provisioner: Provisioner) -> int:
    """Suspend *account_id*'s VMs if it is still exhausted for the whole grace period
    (caller holds the transaction); 1 when this call suspended it."""
    lock_billing({account_id})
    row: CreditState | None = CreditState.get_or_none(CreditState.account == account_id)
    grace = dt.timedelta(seconds=policy().suspend_after_s)
    if (
        row is None
        or row.state != "exhausted"
        or row.suspended_at is not None
        or row.exhausted_since is None
        or row.exhausted_since > now - grace
    ):
        return 0
    vms = provisioner.suspend(account_id)
    CreditState.update(
        state="suspended",
        suspended_at=now,
        seq=CreditState.seq + 1,
        pending=True,
        updated_at=now,
    ).where(CreditState.id == row.id).execute()
    notify(
        account_id,
        "credit_suspended",
        crossing=crossing_of(row),
        payload={"balance_cents": int(row.balance_cents), "vms": vms},
    )
    log.info("suspension.suspended", account=account_id, vms=len(vms))
    return 1


def resume(row: CreditState, balance_cents: int) -> None:
    """Resume the VMs of the suspended account of *row*, whose balance is above its limit
    again (called by the ledger, in its transaction, under the billing row lock)."""
    account_id = int(row.account_id)
    vms = current().provisioner.resume(account_id)
    notify(
        account_id,
        "credit_resumed",
        crossing=crossing_of(row),
        payload={"balance_cents": balance_cents, "vms": vms},
    )
    log.info("suspension.resumed", account=account_id, vms=len(vms))


@actor(queue_name="plans", **RETRY_POLICY)
def suspend_exhausted() -> dict[str, int]:
    """Periodic: suspend the VMs of accounts exhausted past the grace period."""
    return run(utcnow())
