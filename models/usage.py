"""Usage reported by Hero hosts, the nodes that report it and their git cursors."""

from __future__ import annotations

import peewee

from models.accounts import Account
from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.rules import CATEGORIES, RESOURCE_KINDS
from wire.times import utcnow

__all__ = ["CATEGORIES", "RESOURCE_KINDS", "Node", "UsageRecord"]


class Node(BaseModel):
    """A Hero host that reports usage, with its signing key and Forge repo."""

    name = peewee.CharField(max_length=64, unique=True)
    repo_url = peewee.CharField(max_length=500)
    pubkey_hex = peewee.CharField(max_length=64)
    #: The last commit of the node's repo whose records were handed over.
    cursor_commit = peewee.CharField(max_length=40, null=True)
    cursor_updated_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField(default=utcnow)


class UsageRecord(BaseModel):
    """One usage record, charged at most once: its key is unique."""

    key = peewee.CharField(max_length=200, unique=True)
    node = peewee.CharField(max_length=64, index=True)
    address = peewee.CharField(max_length=64)
    account = peewee.ForeignKeyField(Account, null=True, backref="usage", on_delete="RESTRICT")
    resource_kind = peewee.CharField(max_length=16)
    applies_to = peewee.CharField(max_length=16)
    quantity = peewee.BigIntegerField()
    amount_cents = peewee.BigIntegerField()
    occurred_at = UtcDateTimeField(index=True)
    #: The ladder multiplier in quarters (4 = x1, 2 = x0.5, 1 = x0.25).
    multiplier_quarters = peewee.SmallIntegerField()
    #: The discounted cost in quarter-cents (amount_cents x multiplier_quarters). The account
    #: is charged whole cents and carries the remainder (``Billing.usage_carry``), so the
    #: sum of these over an account is always 4 x its usage ledger + its carry.
    charge_quarters = peewee.BigIntegerField()
    #: applied | unmatched
    status = peewee.CharField(max_length=16, default="applied")
    via = peewee.CharField(max_length=16)  # the path it first arrived by: nats | git
    received_at = UtcDateTimeField(default=utcnow)
    #: When the record was first seen on each path (``hero-admin reconcile`` compares them).
    seen_nats_at = UtcDateTimeField(null=True)
    seen_git_at = UtcDateTimeField(null=True)
