"""The dashboard's credit banner: what the hosts are told about the account, in words.

Read from the account's credit state (the row hosts get) and, for a resumption, from the
notification written when the VMs were resumed. One banner at a time, the most pressing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import Notification
from models.credit import CreditState, warn_after_s

#: How long after a resumption the dashboard still says so.
RESUMED_SHOWN = dt.timedelta(days=1)


@dataclass(frozen=True)
class Banner:
    """One of low, exhausted, suspension_coming, suspended, resumed."""

    step: str
    balance_cents: int
    #: When the VMs will be suspended (suspension_coming and exhausted).
    suspend_at: dt.datetime | None = None


def credit_banner(account_id: int, *, now: dt.datetime, suspend_after_s: int) -> Banner | None:
    """The banner for *account_id* at *now*, or None when all is well; an exhausted account's
    VMs are suspended *suspend_after_s* seconds after it was exhausted."""
    row: CreditState | None = CreditState.get_or_none(CreditState.account == account_id)
    if row is None:
        return None
    balance = int(row.balance_cents)
    if row.state == "suspended":
        return Banner("suspended", balance)
    if row.state == "exhausted" and row.exhausted_since is not None:
        suspend_at = row.exhausted_since + dt.timedelta(seconds=suspend_after_s)
        warned = now >= row.exhausted_since + dt.timedelta(seconds=warn_after_s(suspend_after_s))
        return Banner("suspension_coming" if warned else "exhausted", balance, suspend_at)
    resumed = (
        Notification.select(Notification.id)
        .where(
            (Notification.account == account_id)
            & (Notification.kind == "credit_resumed")
            & (Notification.created_at >= now - RESUMED_SHOWN)
        )
        .exists()
    )
    if resumed:
        return Banner("resumed", balance)
    if row.state == "low":
        return Banner("low", balance)
    return None
