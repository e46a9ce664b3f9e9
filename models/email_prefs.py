"""Which emails a user wants, and the links that prove an email address is theirs."""

from __future__ import annotations

import datetime as dt
import hashlib

import peewee

from models.accounts import Account
from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.times import utcnow

#: Lifetime of an email verification link.
VERIFY_TTL = dt.timedelta(hours=24)

#: Kinds of email a user may turn off, each with the notification kinds it covers and
#: the words the settings page shows. Payment receipts are not here: always sent.
OPTIONAL_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "credit": (
        (
            "low_balance",
            "credit_exhausted",
            "credit_suspension_coming",
            "credit_suspended",
            "credit_resumed",
        ),
        "Credit running low, used up, VMs suspended or resumed",
    ),
    "tiers": (("tier_reached",), "A discount tier reached"),
    "plans": (("plan_expiring",), "A plan about to end"),
}


def muted_set(raw: str) -> frozenset[str]:
    """The optional kinds named in a stored ``muted_kinds`` (unknown names dropped).

    >>> sorted(muted_set("tiers,bogus,credit"))
    ['credit', 'tiers']
    """
    return frozenset(k for k in raw.split(",") if k in OPTIONAL_KINDS)


def wanted(notification_kind: str, muted_kinds: str) -> bool:
    """Whether a notification of *notification_kind* may be emailed to its account.

    >>> wanted("payment_credited", "credit,tiers,plans"), wanted("tier_reached", "tiers")
    (True, False)
    """
    muted = muted_set(muted_kinds)
    return all(notification_kind not in OPTIONAL_KINDS[name][0] for name in muted)


def token_hash(token: str) -> str:
    """The stored form of a verification token (sha256 hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


class EmailVerification(BaseModel):
    """A link sent to an email address: its token's hash, single use, 24 hours."""

    account = peewee.ForeignKeyField(Account, backref="email_links", on_delete="CASCADE")
    account_id: int  # peewee's id accessor of the foreign key, declared for type checkers
    email = peewee.CharField(max_length=254)
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = UtcDateTimeField(default=utcnow, index=True)
    expires_at = UtcDateTimeField()
    used_at = UtcDateTimeField(null=True)
