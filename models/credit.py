"""Each account's credit state as hosts see it, and whether that state is published yet.

The row is the outbox: the transaction that changes a balance bumps ``seq`` and sets
``pending``; a publisher puts the row into the NATS key-value bucket and clears
``pending`` for the sequence it published. One row per account, so a burst of changes
is published as its newest state, and the table never grows past the number of accounts.
"""

from __future__ import annotations

import peewee

from models.accounts import Account
from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.times import utcnow

#: The states a host may see, in order of severity.
CREDIT_STATES = ("ok", "low", "exhausted", "suspended")


class CreditState(BaseModel):
    """The credit state of one account, with the sequence number that orders its changes."""

    account = peewee.ForeignKeyField(Account, unique=True, backref="credit", on_delete="CASCADE")
    account_id: int
    #: ok | low | exhausted | suspended
    state = peewee.CharField(max_length=16)
    balance_cents = peewee.BigIntegerField()
    #: ``HERO_CREDIT_FLOOR_CENTS`` when the state was computed.
    floor_cents = peewee.BigIntegerField(default=0)
    #: How far below the floor an operator lets this account go (0: not at all).
    allowance_cents = peewee.BigIntegerField(default=0)
    #: Grows by one with every change; hosts keep the highest they saw.
    seq = peewee.BigIntegerField(default=1)
    #: The highest ``seq`` the bucket is known to hold.
    published_seq = peewee.BigIntegerField(default=0)
    #: ``seq > published_seq``: what the publisher looks for.
    pending = peewee.BooleanField(default=True, index=True)
    #: When the account last went to or under its limit (None while above it).
    exhausted_since = UtcDateTimeField(null=True)
    #: When its VMs were suspended (None while they run).
    suspended_at = UtcDateTimeField(null=True)
    updated_at = UtcDateTimeField(default=utcnow)


def warn_after_s(suspend_after_s: int) -> int:
    """Seconds exhausted after which the user is told suspension is coming.

    >>> warn_after_s(86_400), warn_after_s(1)
    (64800, 0)
    """
    return suspend_after_s * 3 // 4
