"""Plans and VMs: buy_plan and allocate_vm, idempotent by request id; expiry.

Buying a plan needs enough balance and no active plan; it debits the price (never
discounted) and grants a quota of VMs until the period ends. A VM is allocated one at a
time from the quota through a ``Provisioner``; with no VM to give, the request fails with
a clear message and consumes no quota. Every request's outcome is an ``ActionRequest``
row written in the transaction that carries it out.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

import peewee
import structlog

from actors import RETRY_POLICY, actor
from actors.deps import current
from actors.kyc import gate_refusal
from actors.ledger import lock_billing, post
from models import (
    Account,
    ActionRequest,
    PlanSubscription,
    VmAllocation,
    VmPoolSlot,
    db,
    write_transaction,
)
from models.credit import CreditState
from models.money import format_cents
from models.ops import Notice, notify
from models.plans import active_plan as active_plan
from models.plans import outcome_of
from settings import Plan
from wire.times import iso_z, utcnow

log = structlog.get_logger("hero.plans")

#: How long before a plan ends its owner is told, in hours.
EXPIRY_NOTICE_HOURS = 24


def catalogue() -> tuple[Plan, ...]:
    """The plans on sale."""
    return current().plans


class Refused(Exception):
    """A request that cannot be carried out; the message is shown to the user as is."""


class Provisioner(Protocol):
    """Gives an account a VM under a plan, inside the caller's transaction."""

    def provision(self, account: Account, subscription: PlanSubscription) -> VmPoolSlot:
        """Raises: Refused when there is no VM to give."""
        ...

    def suspend(self, account_id: int) -> list[str]:
        """Suspend the account's running VMs; returns their ids."""
        ...

    def resume(self, account_id: int) -> list[str]:
        """Resume the account's suspended VMs; returns their ids."""
        ...


class PoolAssignmentProvisioner:
    """Assigns a free pre-deployed VM from the pool operators registered.

    Race-free on both databases: a slot is taken only by an UPDATE that still finds it
    free. On PostgreSQL the pick skips slots other requests hold; when it finds none it
    waits for them, because a request that fails gives its slot back, and only when no
    slot is free in any way is the request refused.
    """

    #: Picks tried before giving up on a pool that other requests keep emptying.
    ATTEMPTS = 20

    def provision(self, account: Account, subscription: PlanSubscription) -> VmPoolSlot:
        for _ in range(self.ATTEMPTS):
            slot = self._pick(skip_locked=True) or self._pick(skip_locked=False)
            if slot is None:
                break
            taken = (
                VmPoolSlot.update(status="assigned")
                .where((VmPoolSlot.id == slot.id) & (VmPoolSlot.status == "free"))
                .execute()
            )
            if taken:
                return slot
        raise Refused(
            "No VM is free right now, so none was started and your quota is "
            "untouched. Please try again later."
        )

    def suspend(self, account_id: int) -> list[str]:
        return self._move(account_id, "assigned", "suspended")

    def resume(self, account_id: int) -> list[str]:
        return self._move(account_id, "suspended", "assigned")

    @staticmethod
    def _move(account_id: int, old: str, new: str) -> list[str]:
        """Mark the account's held VMs in status *old* as *new*; their ids."""
        held = VmAllocation.select(VmAllocation.slot).where(
            (VmAllocation.account == account_id) & VmAllocation.released_at.is_null()
        )
        slots = VmPoolSlot.select().where(VmPoolSlot.id.in_(held) & (VmPoolSlot.status == old))
        vms = sorted(slot.vm_id for slot in slots)
        VmPoolSlot.update(status=new).where(VmPoolSlot.vm_id.in_(vms)).execute()
        return vms

    @staticmethod
    def _pick(*, skip_locked: bool) -> VmPoolSlot | None:
        query = VmPoolSlot.select().where(VmPoolSlot.status == "free").order_by(VmPoolSlot.id)
        if db.obj.for_update:
            query = query.for_update(skip_locked=skip_locked)
        slot: VmPoolSlot | None = query.first()
        return slot


def _account(address: str) -> Account:
    account = Account.get_or_none(Account.address == address)
    if account is None:
        raise Refused("Your account is still being set up; try again in a moment.")
    return account


def buy(request_id: str, address: str, plan_id: str, *, now: dt.datetime) -> dict[str, Any]:
    """Buy *plan_id* for *address*, once per *request_id* (caller holds the transaction)."""
    plan = next((p for p in catalogue() if p.plan_id == plan_id), None)
    if plan is None:
        raise Refused(f"There is no plan called {plan_id!r}.")
    account = _account(address)
    if (unverified := gate_refusal(account, "plan")) is not None:
        raise Refused(unverified)
    # The account's billing row, locked until commit, serialises its buys: the checks
    # below still hold when the plan is created and the price debited.
    have = lock_billing({account.id})[account.id].balance_cents
    for lapsed in PlanSubscription.select().where(
        (PlanSubscription.account == account)
        & (PlanSubscription.status == "active")
        & (PlanSubscription.period_end <= now)
    ):
        _end(lapsed, now)
    current = active_plan(account, now)
    if current is not None:
        raise Refused(
            f"You already have the {current.plan_id} plan until "
            f"{current.period_end:%Y-%m-%d %H:%M} UTC."
        )
    if have < plan.price_cents:
        raise Refused(
            f"The {plan.plan_id} plan costs {format_cents(plan.price_cents)} and your "
            f"balance is {format_cents(have)}. Top up first; nothing was charged."
        )
    posted = post(
        account,
        amount_cents=-plan.price_cents,
        kind="plan_purchase",
        ref=f"{account.id}:{request_id}",
        details={"plan_id": plan.plan_id, "vms": plan.vms, "period_hours": plan.period_hours},
    )
    if posted is None:  # a twin delivery already charged this request
        raise peewee.IntegrityError(f"plan_purchase {request_id} already posted")
    period_end = now + dt.timedelta(hours=plan.period_hours)
    PlanSubscription.create(
        request_id=request_id,
        account=account,
        plan_id=plan.plan_id,
        price_cents=plan.price_cents,
        vm_quota_total=plan.vms,
        started_at=now,
        period_end=period_end,
    )
    return {
        "plan_id": plan.plan_id,
        "period_end": iso_z(period_end),
        "balance_after_cents": posted.balance_after_cents,
    }


def allocate(
    request_id: str, address: str, *, now: dt.datetime, provisioner: Provisioner
) -> dict[str, Any]:
    """Give *address* one VM from its plan's quota (caller holds the transaction)."""
    account = _account(address)
    plan = active_plan(account, now)
    if plan is not None and db.obj.for_update:
        # The plan row, locked until commit, serialises the account's allocations, so a
        # request over quota is refused before it holds a VM another account could take.
        plan = PlanSubscription.select().where(PlanSubscription.id == plan.id).for_update().get()
    if plan is None or plan.status != "active":
        raise Refused("You need an active plan to start a VM. Buy one on the Plans page.")
    if CreditState.get_or_none(
        (CreditState.account == account) & CreditState.suspended_at.is_null(False)
    ):
        raise Refused("Your VMs are suspended because your credit is used up. Top up first.")
    if plan.vm_quota_used >= plan.vm_quota_total:
        raise Refused(f"Your {plan.plan_id} plan's {plan.vm_quota_total} VMs are all in use.")
    slot = provisioner.provision(account, plan)
    taken = (
        PlanSubscription.update(vm_quota_used=PlanSubscription.vm_quota_used + 1)
        .where(
            (PlanSubscription.id == plan.id)
            & (PlanSubscription.vm_quota_used < PlanSubscription.vm_quota_total)
        )
        .execute()
    )
    if not taken:
        raise Refused(f"Your {plan.plan_id} plan's {plan.vm_quota_total} VMs are all in use.")
    VmAllocation.create(
        request_id=request_id, account=account, subscription=plan, slot=slot, created_at=now
    )
    return {"vm_id": slot.vm_id, "vm_address": slot.address, "plan_id": plan.plan_id}


def carry_out(kind: str, request_id: str, address: str, action: Any) -> dict[str, Any]:
    """Run *action* once per *request_id*, recording its outcome (ok or refused)."""
    try:
        with write_transaction():
            if not _done(address, request_id):
                result = action()
                ActionRequest.create(
                    request_id=request_id,
                    address=address,
                    kind=kind,
                    outcome="ok",
                    result=json.dumps(result),
                    created_at=utcnow(),
                )
    except Refused as exc:
        ActionRequest.insert(
            request_id=request_id,
            address=address,
            kind=kind,
            outcome="refused",
            message=str(exc),
            created_at=utcnow(),
        ).on_conflict(
            action="NOTHING", conflict_target=[ActionRequest.address, ActionRequest.request_id]
        ).execute()
    except peewee.IntegrityError:
        # A twin delivery of the same request committed first, and its outcome stands;
        # with no outcome recorded, the conflict was another request's: retry the message.
        if not _done(address, request_id):
            raise
    row = ActionRequest.get(
        (ActionRequest.address == address) & (ActionRequest.request_id == request_id)
    )
    log.info("plans.request", kind=kind, request_id=request_id, outcome=row.outcome)
    return outcome_of(row)


def _done(address: str, request_id: str) -> bool:
    return bool(
        ActionRequest.select()
        .where((ActionRequest.address == address) & (ActionRequest.request_id == request_id))
        .exists()
    )


def expire(now: dt.datetime) -> dict[str, int]:
    """End plans whose period is over and return their VMs to the pool; warn owners of
    plans ending within ``EXPIRY_NOTICE_HOURS``, once per plan. Plans whose owner opted
    in to renewal are renewed first, when the balance allows."""
    from actors.plan_changes import renew_due  # it builds on this module

    renew_due(now)
    expired = 0
    for plan in PlanSubscription.select().where(
        (PlanSubscription.status == "active") & (PlanSubscription.period_end <= now)
    ):
        with write_transaction():
            expired += _end(plan, now)
    soon = now + dt.timedelta(hours=EXPIRY_NOTICE_HOURS)
    warned = 0
    for plan in PlanSubscription.select().where(
        (PlanSubscription.status == "active") & (PlanSubscription.period_end <= soon)
    ):
        warned += notify(
            Notice(
                plan.account_id,
                "plan_expiring",
                str(plan.id),
                {"plan_id": plan.plan_id, "period_end": iso_z(plan.period_end)},
            )
        )
    return {"expired": expired, "warned": warned}


def _end(plan: PlanSubscription, now: dt.datetime) -> int:
    """End *plan* and give its VMs back to the pool; 1 when this call ended it."""
    ended = int(
        PlanSubscription.update(status="expired")
        .where((PlanSubscription.id == plan.id) & (PlanSubscription.status == "active"))
        .execute()
    )
    if ended:
        held = VmAllocation.select(VmAllocation.slot).where(
            (VmAllocation.subscription == plan) & VmAllocation.released_at.is_null()
        )
        VmPoolSlot.update(status="free").where(VmPoolSlot.id.in_(held)).execute()
        VmAllocation.update(released_at=now).where(
            (VmAllocation.subscription == plan) & VmAllocation.released_at.is_null()
        ).execute()
    return ended


@actor(queue_name="plans", **RETRY_POLICY)
def buy_plan(request_id: str, address: str, plan_id: str) -> dict[str, Any]:
    """Buy a plan for an account, once per request id."""
    return carry_out(
        "buy_plan", request_id, address, lambda: buy(request_id, address, plan_id, now=utcnow())
    )


@actor(queue_name="plans", **RETRY_POLICY)
def allocate_vm(request_id: str, address: str) -> dict[str, Any]:
    """Start one VM from the account's plan quota, once per request id."""
    return carry_out(
        "allocate_vm",
        request_id,
        address,
        lambda: allocate(
            request_id, address, now=utcnow(), provisioner=PoolAssignmentProvisioner()
        ),
    )


@actor(queue_name="plans", **RETRY_POLICY)
def expire_plans() -> dict[str, int]:
    """Periodic: end plans whose period is over and give their VMs back to the pool."""
    return expire(utcnow())
