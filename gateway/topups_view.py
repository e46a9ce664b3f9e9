"""The top-ups a user started and has not paid: what the top-up page lists."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import Account, TopUp
from models.payments import topup_state

#: How far back the top-up page lists unpaid top-ups.
LIST_WINDOW = dt.timedelta(days=7)
#: Most unpaid top-ups listed.
LIST_LIMIT = 10
#: What each state reads as on the page.
STATE_LABELS = {
    "started": "Waiting for payment",
    "expired": "Expired",
    "failed": "Payment failed",
    "cancelled": "Cancelled",
    "paid": "Paid",
}


@dataclass(frozen=True)
class UnpaidTopUp:
    """One line of the list: which top-up, how much, with whom, since when, and its state."""

    public_id: str
    amount_cents: int
    provider: str
    created_at: dt.datetime
    state: str

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def pending(self) -> bool:
        return self.state == "started"


def unpaid_topups(address: str, *, now: dt.datetime) -> list[UnpaidTopUp]:
    """The unpaid top-ups of *address* from the last week, newest first."""
    rows = (
        TopUp.select(
            TopUp.public_id, TopUp.amount_cents, TopUp.provider, TopUp.created_at, TopUp.status
        )
        .join(Account)
        .where(
            (Account.address == address)
            & (TopUp.status != "paid")
            & (TopUp.created_at >= now - LIST_WINDOW)
        )
        .order_by(TopUp.created_at.desc(), TopUp.id.desc())
        .limit(LIST_LIMIT)
    )
    return [
        UnpaidTopUp(
            public_id=row.public_id,
            amount_cents=row.amount_cents,
            provider=row.provider,
            created_at=row.created_at,
            state=topup_state(row.status, row.created_at, now=now),
        )
        for row in rows
    ]
