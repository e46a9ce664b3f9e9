"""VM plans bought, the pool of pre-deployed VMs and their allocations."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee

from models.accounts import Account
from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.times import utcnow


class PlanSubscription(BaseModel):
    """A plan bought by an account: a quota of VMs until the period ends.

    An account has at most one ``active`` plan: a partial unique index says so, whatever
    number of buys run at once.
    """

    request_id = peewee.CharField(max_length=100)
    account = peewee.ForeignKeyField(Account, backref="plans", on_delete="RESTRICT")
    account_id: int
    plan_id = peewee.CharField(max_length=32)
    price_cents = peewee.BigIntegerField()
    vm_quota_total = peewee.IntegerField()
    vm_quota_used = peewee.IntegerField(default=0)
    started_at = UtcDateTimeField(default=utcnow)
    period_end = UtcDateTimeField(index=True)
    #: active | expired
    status = peewee.CharField(max_length=16, default="active", index=True)
    #: Renew for another period at its end when the balance allows (the owner opts in).
    auto_renew = peewee.BooleanField(default=False)

    class Meta:
        indexes = ((("account", "request_id"), True),)


#: Name of the index that allows one active plan per account.
ONE_ACTIVE_PLAN_INDEX = "plan_subscription_one_active"
PlanSubscription.add_index(
    PlanSubscription.index(
        PlanSubscription.account,
        unique=True,
        where=(PlanSubscription.status == "active"),
        name=ONE_ACTIVE_PLAN_INDEX,
    )
)


def is_current(now: dt.datetime) -> peewee.Expression:
    """The condition a plan meets while it counts: ``active`` and its period not ended.

    An ``active`` row whose period is over waits for ``expire_plans`` to end it; until then
    it counts for nothing, wherever it is read.
    """
    return (PlanSubscription.status == "active") & (PlanSubscription.period_end > now)


def active_plan(account: Account | int, now: dt.datetime) -> PlanSubscription | None:
    """The account's plan whose period has not ended, if any."""
    account_id = account if isinstance(account, int) else int(account.id)
    return active_plans([account_id], now).get(account_id)


def active_plans(account_ids: list[int], now: dt.datetime) -> dict[int, PlanSubscription]:
    """The plan of each of *account_ids* whose period has not ended, in one query."""
    plans: dict[int, PlanSubscription] = {}
    query = (
        PlanSubscription.select()
        .where(PlanSubscription.account.in_(account_ids) & is_current(now))
        .order_by(PlanSubscription.id)
    )
    for plan in query:
        plans[int(plan.account_id)] = plan  # the newest wins
    return plans


class VmPoolSlot(BaseModel):
    """A pre-deployed VM an operator registered; free until allocated."""

    vm_id = peewee.CharField(max_length=100, unique=True)
    address = peewee.CharField(max_length=64, null=True)
    details = peewee.TextField(default="{}")
    #: free | assigned | suspended (its owner's credit ran out) | retired
    status = peewee.CharField(max_length=16, default="free", index=True)
    created_at = UtcDateTimeField(default=utcnow)


class VmAllocation(BaseModel):
    """A VM given to an account under a plan, idempotent by (account, request id)."""

    request_id = peewee.CharField(max_length=100)
    account = peewee.ForeignKeyField(Account, backref="vms", on_delete="RESTRICT")
    subscription = peewee.ForeignKeyField(PlanSubscription, backref="allocations")
    slot = peewee.ForeignKeyField(VmPoolSlot, backref="allocations")
    slot_id: int
    created_at = UtcDateTimeField(default=utcnow)
    released_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("account", "request_id"), True),)


class ActionRequest(BaseModel):
    """The outcome of a user's request (buy a plan, spin up a VM), unique by the account's
    address and the request id: one account's ids never touch another's requests.

    Written by the actor that carries the request out, in the same transaction, so a
    request delivered twice acts once and the page that sent it can show what happened.
    """

    request_id = peewee.CharField(max_length=100)
    address = peewee.CharField(max_length=64, index=True)
    kind = peewee.CharField(max_length=16)  # buy_plan | allocate_vm
    #: ok | refused
    outcome = peewee.CharField(max_length=16)
    message = peewee.TextField(default="")
    result = peewee.TextField(default="{}")
    created_at = UtcDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("address", "request_id"), True),)


def outcome_of(row: ActionRequest) -> dict[str, Any]:
    """What the page that sent request *row* shows: its outcome and what it left."""
    return {
        "request_id": row.request_id,
        "outcome": row.outcome,
        "message": row.message,
        **json.loads(row.result),
    }
