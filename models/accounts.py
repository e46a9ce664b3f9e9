"""Accounts, their billing projection and the ledger that explains it."""

from __future__ import annotations

import datetime as dt

import peewee

from models.db import BaseModel


def utcnow() -> dt.datetime:
    """Naive UTC now, the form every timestamp column stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Account(BaseModel):
    """A person, known by the Mycelium address they proved (canonical text)."""

    address = peewee.CharField(max_length=64, unique=True)
    email = peewee.CharField(max_length=254, null=True)
    created_at = peewee.DateTimeField(default=utcnow)


class Billing(BaseModel):
    """The balance and billing facts of an account: a projection of its ledger."""

    account = peewee.ForeignKeyField(Account, unique=True, backref="billing", on_delete="CASCADE")
    account_id: int  # peewee's id accessor of the foreign key, declared for type checkers
    balance_cents = peewee.BigIntegerField(default=0)
    lifetime_paid_cents = peewee.BigIntegerField(default=0)
    first_paid_at = peewee.DateTimeField(null=True)
    discount_tier = peewee.CharField(max_length=16, default="none")
    overdrawn = peewee.BooleanField(default=False)
    #: Discounted usage not yet charged as a whole cent, in quarter-cents (0..3).
    usage_carry = peewee.BigIntegerField(default=0)
    updated_at = peewee.DateTimeField(default=utcnow)


#: Kinds of ledger entry.
LEDGER_KINDS = ("payment", "refund", "usage", "plan_purchase", "adjustment")


class LedgerEntry(BaseModel):
    """One signed change of a balance, unique by (kind, ref)."""

    account = peewee.ForeignKeyField(Account, backref="ledger", on_delete="RESTRICT")
    amount_cents = peewee.BigIntegerField()
    kind = peewee.CharField(max_length=16, choices=[(k, k) for k in LEDGER_KINDS])
    ref = peewee.CharField(max_length=200)
    balance_after_cents = peewee.BigIntegerField()
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    details = peewee.TextField(default="{}")

    class Meta:
        indexes = ((("kind", "ref"), True), (("account", "id"), False))
