"""Top-ups started by users and payment events reported by providers."""

from __future__ import annotations

import datetime as dt

import peewee

from models.accounts import Account
from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.times import utcnow


class TopUp(BaseModel):
    """A top-up a user started: which provider, how much, and where it stands."""

    public_id = peewee.CharField(max_length=40, unique=True)
    account = peewee.ForeignKeyField(Account, backref="topups", on_delete="RESTRICT")
    provider = peewee.CharField(max_length=16)
    amount_cents = peewee.BigIntegerField()
    currency = peewee.CharField(max_length=3, default="usd")
    #: started -> paid | failed | cancelled (a started one older than a day reads as expired)
    status = peewee.CharField(max_length=16, default="started")
    provider_ref = peewee.CharField(max_length=200, null=True, index=True)
    #: The provider's hosted checkout page, to go back to while it lives.
    checkout_url = peewee.CharField(max_length=2000, null=True)
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)


class PaymentEvent(BaseModel):
    """A payment or refund a provider reported, unique by (provider, kind, key)."""

    provider = peewee.CharField(max_length=16)
    kind = peewee.CharField(max_length=16)  # payment | refund
    key = peewee.CharField(max_length=200)
    address = peewee.CharField(max_length=64, null=True)
    account = peewee.ForeignKeyField(Account, null=True, backref="payments", on_delete="RESTRICT")
    account_id: int | None  # peewee's id accessor of the foreign key, declared for type checkers
    amount_cents = peewee.BigIntegerField()
    currency = peewee.CharField(max_length=3, default="usd")
    #: For a refund: the payment key it refunds.
    payment_key = peewee.CharField(max_length=200, null=True, index=True)
    occurred_at = UtcDateTimeField(null=True)
    #: applied | unmatched
    status = peewee.CharField(max_length=16)
    topup_public_id = peewee.CharField(max_length=40, null=True)
    event_id = peewee.CharField(max_length=200, null=True)
    received_at = UtcDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("provider", "kind", "key"), True),)


#: How long a started top-up can still be paid (Stripe's checkout sessions live 24 h).
TOPUP_TTL = dt.timedelta(days=1)


def topup_state(status: str, created_at: dt.datetime, *, now: dt.datetime) -> str:
    """What a top-up is now: ``started``, ``expired``, ``paid``, ``failed`` or ``cancelled``.

    >>> t0 = dt.datetime(2026, 1, 1)
    >>> topup_state("started", t0, now=t0 + TOPUP_TTL), topup_state("paid", t0, now=t0)
    ('expired', 'paid')
    """
    if status == "started" and now - created_at >= TOPUP_TTL:
        return "expired"
    return status
