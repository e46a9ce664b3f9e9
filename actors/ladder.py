"""The discount ladder's daily actor: it refreshes the tier users see.

The rules (tiers, multipliers) are ``models.ladder``; they are re-exported here for the
workers that charge usage.
"""

from __future__ import annotations

import datetime as dt

import structlog

from actors import RETRY_POLICY, actor
from models import Billing, write_transaction
from models.ladder import LADDER_DENOMINATOR as LADDER_DENOMINATOR
from models.ladder import multiplier_quarters as multiplier_quarters
from models.ladder import next_tier as next_tier
from models.ladder import tier_at as tier_at
from models.ops import Notice, notify
from wire.times import utcnow

log = structlog.get_logger("hero.ladder")


def refresh(now: dt.datetime) -> dict[str, int]:
    """Set every paying account's shown tier; notify each tier reached, once."""
    changed = notified = 0
    for billing in Billing.select().where(Billing.first_paid_at.is_null(False)):
        tier = tier_at(billing.first_paid_at, now)
        if tier == billing.discount_tier:
            continue
        with write_transaction():
            Billing.update(discount_tier=tier, updated_at=utcnow()).where(
                Billing.id == billing.id
            ).execute()
            changed += 1
            if tier != "none":
                notified += notify(
                    Notice(
                        billing.account_id,
                        "tier_reached",
                        f"{billing.account_id}:{tier}",
                        {"tier": tier},
                    )
                )
    log.info("ladder.refreshed", changed=changed, notified=notified)
    return {"changed": changed, "notified": notified}


@actor(queue_name="usage", **RETRY_POLICY)
def refresh_tiers() -> dict[str, int]:
    """Daily: refresh the tier shown on dashboards and emit "tier reached" once per tier."""
    return refresh(utcnow())
