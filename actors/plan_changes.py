"""Changes to a plan someone holds: upgrade, opt-in renewal, and releasing a VM.

Each request is carried out once per request id, like buying a plan (``carry_out``), and
each check-then-act on money holds the account's billing row (and, on PostgreSQL, the
plan row) locked until commit, so concurrent requests cannot both pass a check.

Pro rata: an upgrade charges the difference between the new plan's price and the price
paid for the current period, times the part of the period still to run:
``floor(difference * remaining_seconds / period_seconds)``, with the remaining time in
whole seconds, rounded down. The fraction of a cent is never charged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee
import structlog

from actors import RETRY_POLICY, actor
from actors import plans as catalogue
from actors.ledger import lock_billing, post
from actors.plans import Refused, active_plan, carry_out
from models import Account, PlanSubscription, VmAllocation, VmPoolSlot, db, write_transaction
from models.dialect import locked
from models.money import format_cents
from models.plan_rules import upgrade_cost
from settings import Plan
from wire.times import iso_z, utcnow

log = structlog.get_logger("hero.plans")


def find_plan(plan_id: str) -> Plan | None:
    return next((p for p in catalogue.catalogue() if p.plan_id == plan_id), None)


def _account(address: str) -> Account:
    account = Account.get_or_none(Account.address == address)
    if account is None:
        raise Refused("Your account is still being set up; try again in a moment.")
    return account


def _locked_plan(account: Account, now: dt.datetime) -> PlanSubscription | None:
    plan = active_plan(account, now)
    if plan is not None and db.obj.for_update:
        plan = PlanSubscription.select().where(PlanSubscription.id == plan.id).for_update().get()
    return plan


def upgrade(request_id: str, address: str, plan_id: str, *, now: dt.datetime) -> dict[str, Any]:
    """Move *address*'s plan to the bigger *plan_id* until the same end, charging pro rata."""
    target = find_plan(plan_id)
    if target is None:
        raise Refused(f"There is no plan called {plan_id!r}.")
    account = _account(address)
    have = lock_billing({account.id})[account.id].balance_cents
    current = _locked_plan(account, now)
    if current is None or current.status != "active":
        raise Refused("You have no plan to upgrade. Buy one on the Plans page.")
    if target.vms <= current.vm_quota_total:
        raise Refused(f"Your plan already has {current.vm_quota_total} VMs; an upgrade needs more.")
    cost = upgrade_cost(current, target, now)
    if have < cost:
        raise Refused(
            f"The upgrade costs {format_cents(cost)} and your balance is "
            f"{format_cents(have)}. Top up first; nothing was charged."
        )
    balance_after = have
    if cost > 0:
        posted = post(
            account,
            amount_cents=-cost,
            kind="plan_purchase",
            ref=f"{account.id}:{request_id}",
            details={
                "plan_id": target.plan_id,
                "vms": target.vms,
                "upgrade_from": current.plan_id,
                "period_end": iso_z(current.period_end),
            },
        )
        if posted is None:  # a twin delivery already charged this request
            raise peewee.IntegrityError(f"plan upgrade {request_id} already posted")
        balance_after = posted.balance_after_cents
    PlanSubscription.update(
        plan_id=target.plan_id, price_cents=target.price_cents, vm_quota_total=target.vms
    ).where(PlanSubscription.id == current.id).execute()
    return {
        "plan_id": target.plan_id,
        "upgrade_from": current.plan_id,
        "charged_cents": cost,
        "vms": target.vms,
        "balance_after_cents": balance_after,
    }


def set_renewal(request_id: str, address: str, on: bool, *, now: dt.datetime) -> dict[str, Any]:
    """Turn the renewal of *address*'s plan on or off."""
    account = _account(address)
    current = _locked_plan(account, now)
    if current is None:
        raise Refused("You have no plan to renew. Buy one on the Plans page.")
    PlanSubscription.update(auto_renew=on).where(PlanSubscription.id == current.id).execute()
    return {"plan_id": current.plan_id, "auto_renew": on}


def release(request_id: str, address: str, vm_id: str, *, now: dt.datetime) -> dict[str, Any]:
    """Give *address*'s VM *vm_id* back to the pool and free its place in the quota."""
    account = _account(address)
    held = (
        VmAllocation.select(VmAllocation, VmPoolSlot)
        .join(VmPoolSlot)
        .where(
            (VmAllocation.account == account)
            & (VmPoolSlot.vm_id == vm_id)
            & VmAllocation.released_at.is_null()
        )
        .first()
    )
    if held is None:
        raise Refused(f"You hold no VM called {vm_id!r}; it may already be released.")
    query = PlanSubscription.select().where(PlanSubscription.id == held.subscription_id)
    plan: PlanSubscription = locked(query).get()
    gone = (
        VmAllocation.update(released_at=now)
        .where((VmAllocation.id == held.id) & VmAllocation.released_at.is_null())
        .execute()
    )
    if not gone:
        raise Refused(f"The VM {vm_id} was already released.")
    VmPoolSlot.update(status="free").where(VmPoolSlot.id == held.slot_id).execute()
    if plan.status == "active":
        PlanSubscription.update(vm_quota_used=PlanSubscription.vm_quota_used - 1).where(
            (PlanSubscription.id == plan.id) & (PlanSubscription.vm_quota_used > 0)
        ).execute()
    return {"vm_id": vm_id, "plan_id": plan.plan_id}


def renew_one(plan_row_id: int, now: dt.datetime) -> bool:
    """Renew one lapsed plan that opted in, for one more period, once (caller holds the
    transaction). False when it cannot: no such plan on sale, not enough balance, or the
    new period would already be over."""
    plan = PlanSubscription.get_by_id(plan_row_id)
    offer = find_plan(plan.plan_id)
    if offer is None:
        return False
    have = lock_billing({plan.account_id})[plan.account_id].balance_cents
    query = PlanSubscription.select().where(PlanSubscription.id == plan_row_id)
    plan = locked(query).get()
    if plan.status != "active" or not plan.auto_renew or plan.period_end > now:
        return False
    new_end = plan.period_end + dt.timedelta(hours=offer.period_hours)
    if have < offer.price_cents or new_end <= now:
        return False
    posted = post(
        plan.account_id,
        amount_cents=-offer.price_cents,
        kind="plan_purchase",
        ref=f"{plan.account_id}:renew:{plan.id}:{plan.period_end:%Y%m%dT%H%M%S}",
        details={"plan_id": offer.plan_id, "vms": offer.vms, "renewal": True},
    )
    if posted is None:
        return False
    PlanSubscription.update(
        started_at=plan.period_end,
        period_end=new_end,
        price_cents=offer.price_cents,
        vm_quota_total=max(offer.vms, plan.vm_quota_used),
    ).where(PlanSubscription.id == plan.id).execute()
    return True


def renew_due(now: dt.datetime) -> int:
    """Renew every lapsed plan whose owner opted in and can pay; the number renewed."""
    renewed = 0
    due = PlanSubscription.select(PlanSubscription.id).where(
        (PlanSubscription.status == "active")
        & PlanSubscription.auto_renew
        & (PlanSubscription.period_end <= now)
    )
    for row in list(due):
        try:
            with write_transaction():
                renewed += renew_one(row.id, now)
        except peewee.IntegrityError:
            continue  # another worker renewed it in the same moment
    if renewed:
        log.info("plans.renewed", count=renewed)
    return renewed


@actor(queue_name="plans", **RETRY_POLICY)
def upgrade_plan(request_id: str, address: str, plan_id: str) -> dict[str, Any]:
    """Upgrade the account's plan to a bigger one, once per request id."""
    return carry_out(
        "upgrade_plan",
        request_id,
        address,
        lambda: upgrade(request_id, address, plan_id, now=utcnow()),
    )


@actor(queue_name="plans", **RETRY_POLICY)
def set_plan_renewal(request_id: str, address: str, on: bool) -> dict[str, Any]:
    """Opt the account's plan in or out of renewal, once per request id."""
    return carry_out(
        "set_renewal",
        request_id,
        address,
        lambda: set_renewal(request_id, address, on, now=utcnow()),
    )


@actor(queue_name="plans", **RETRY_POLICY)
def release_vm(request_id: str, address: str, vm_id: str) -> dict[str, Any]:
    """Give one of the account's VMs back to the pool, once per request id."""
    return carry_out(
        "release_vm", request_id, address, lambda: release(request_id, address, vm_id, now=utcnow())
    )
