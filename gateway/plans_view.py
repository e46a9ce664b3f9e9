"""What the Plans page shows: plans named for people, what each button would do or why it
cannot, the renewal choice, and every VM with its address and state (read-only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import PlanSubscription, VmAllocation, VmPoolSlot
from models.credit import CreditState
from models.money import format_cents
from models.plan_rules import per_vm_cents, plan_name, upgrade_cost
from settings import Plan

#: A pool slot's status, as its owner reads it.
VM_STATES = {
    "assigned": "Running",
    "suspended": "Suspended: your credit ran out",
    "retired": "Retired by an operator",
    "free": "Released",
}


@dataclass(frozen=True)
class Offer:
    """One plan on the page and the one thing its button does (or why it is off)."""

    plan: Plan
    name: str
    per_vm_cents: int
    #: buy | upgrade | current | none
    action: str
    #: What the button costs now (an upgrade's pro rata share).
    cost_cents: int
    #: Why the button is disabled; empty when it is not.
    why_not: str


@dataclass(frozen=True)
class VmLine:
    vm_id: str
    address: str | None
    state: str
    running: bool
    since: dt.datetime


def offers(
    plans: tuple[Plan, ...], current: PlanSubscription | None, balance_cents: int, now: dt.datetime
) -> list[Offer]:
    """Each plan with its button's action, cost and, when disabled, the reason in words."""
    result = []
    for plan in plans:
        name, per_vm = plan_name(plan), per_vm_cents(plan)
        if current is None:
            cost = plan.price_cents
            why = (
                f"Your balance is {format_cents(balance_cents)}; this plan costs "
                f"{format_cents(cost)}. Top up to buy it."
                if balance_cents < cost
                else ""
            )
            result.append(Offer(plan, name, per_vm, "buy", cost, why))
        elif plan.plan_id == current.plan_id:
            result.append(Offer(plan, name, per_vm, "current", 0, "This is your plan."))
        elif plan.vms > current.vm_quota_total:
            cost = upgrade_cost(current, plan, now)
            why = (
                f"Your balance is {format_cents(balance_cents)}; the upgrade costs "
                f"{format_cents(cost)} now. Top up to upgrade."
                if balance_cents < cost
                else ""
            )
            result.append(Offer(plan, name, per_vm, "upgrade", cost, why))
        else:
            why = (
                f"Your plan already has {current.vm_quota_total} VMs. You can buy this one "
                "when your plan ends."
            )
            result.append(Offer(plan, name, per_vm, "none", 0, why))
    return result


def vm_lines(account_id: int) -> list[VmLine]:
    """The account's VMs, oldest first, with their address and state."""
    rows = (
        VmAllocation.select(VmAllocation, VmPoolSlot)
        .join(VmPoolSlot)
        .where((VmAllocation.account == account_id) & VmAllocation.released_at.is_null())
        .order_by(VmAllocation.id)
    )
    return [
        VmLine(
            vm_id=row.slot.vm_id,
            address=row.slot.address,
            state=VM_STATES.get(row.slot.status, row.slot.status),
            running=row.slot.status == "assigned",
            since=row.created_at,
        )
        for row in rows
    ]


def start_vm_refusal(account_id: int, current: PlanSubscription | None) -> str:
    """Why the Start a VM button is off, or an empty string."""
    if current is None:
        return "Buy a plan to start VMs."
    suspended = CreditState.get_or_none(
        (CreditState.account == account_id) & CreditState.suspended_at.is_null(False)
    )
    if suspended is not None:
        return "Your VMs are suspended because your credit is used up. Top up first."
    if current.vm_quota_used >= current.vm_quota_total:
        return (
            f"All {current.vm_quota_total} VMs of your plan are in use. Release one, or "
            "upgrade for more."
        )
    return ""
