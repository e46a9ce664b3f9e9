"""VM plans bought, the pool of pre-deployed VMs and their allocations."""

from __future__ import annotations

import peewee

from models.accounts import Account, utcnow
from models.db import BaseModel


class PlanSubscription(BaseModel):
    """A plan bought by an account: a quota of VMs until the period ends."""

    request_id = peewee.CharField(max_length=100, unique=True)
    account = peewee.ForeignKeyField(Account, backref="plans", on_delete="RESTRICT")
    plan_id = peewee.CharField(max_length=32)
    price_cents = peewee.BigIntegerField()
    vm_quota_total = peewee.IntegerField()
    vm_quota_used = peewee.IntegerField(default=0)
    started_at = peewee.DateTimeField(default=utcnow)
    period_end = peewee.DateTimeField(index=True)
    #: active | expired
    status = peewee.CharField(max_length=16, default="active", index=True)


class VmPoolSlot(BaseModel):
    """A pre-deployed VM an operator registered; free until allocated."""

    vm_id = peewee.CharField(max_length=100, unique=True)
    address = peewee.CharField(max_length=64, null=True)
    details = peewee.TextField(default="{}")
    #: free | assigned
    status = peewee.CharField(max_length=16, default="free", index=True)
    created_at = peewee.DateTimeField(default=utcnow)


class VmAllocation(BaseModel):
    """A VM given to an account under a plan, idempotent by request id."""

    request_id = peewee.CharField(max_length=100, unique=True)
    account = peewee.ForeignKeyField(Account, backref="vms", on_delete="RESTRICT")
    subscription = peewee.ForeignKeyField(PlanSubscription, backref="allocations")
    slot = peewee.ForeignKeyField(VmPoolSlot, backref="allocations")
    created_at = peewee.DateTimeField(default=utcnow)
    released_at = peewee.DateTimeField(null=True)
