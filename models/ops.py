"""What operators look at: the audit of their actions, alerts, and unmatched items."""

from __future__ import annotations

import peewee

from models.accounts import Account, utcnow
from models.db import BaseModel


class AdminAudit(BaseModel):
    """Every operator action tried, applied or refused, with who signed it."""

    nonce = peewee.CharField(max_length=64, unique=True)
    action = peewee.CharField(max_length=32)
    args = peewee.TextField(default="{}")
    operator_pubkey = peewee.CharField(max_length=64, null=True)
    #: applied | refused
    outcome = peewee.CharField(max_length=16)
    reason = peewee.TextField(default="")
    result = peewee.TextField(default="{}")
    created_at = peewee.DateTimeField(default=utcnow, index=True)


class Alert(BaseModel):
    """Something an operator must look at (force-push, bad signature, quarantined file)."""

    kind = peewee.CharField(max_length=32, index=True)
    subject = peewee.CharField(max_length=200, default="")
    message = peewee.TextField()
    details = peewee.TextField(default="{}")
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    resolved_at = peewee.DateTimeField(null=True)


class UnmatchedItem(BaseModel):
    """A payment or usage record for no known account: kept, listed, applied when resolved."""

    source = peewee.CharField(max_length=16)  # payment | refund | usage
    ref = peewee.CharField(max_length=200)
    address = peewee.CharField(max_length=64, null=True)
    reason = peewee.TextField()
    payload = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)
    resolved_at = peewee.DateTimeField(null=True, index=True)
    attempts = peewee.IntegerField(default=0)

    class Meta:
        indexes = ((("source", "ref"), True),)


class Notification(BaseModel):
    """Something to tell a user (email), written once per (kind, key) and sent later."""

    account = peewee.ForeignKeyField(Account, backref="notifications", on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)  # payment_credited | low_balance | tier_reached | ...
    key = peewee.CharField(max_length=200)
    payload = peewee.TextField(default="{}")
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True, index=True)

    class Meta:
        indexes = ((("kind", "key"), True),)
