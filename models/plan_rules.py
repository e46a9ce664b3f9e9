"""Plans as the pages show them: names, prices per VM, what an upgrade costs now.

Pure rules over a ``settings.Plan`` and a ``PlanSubscription``: the web pages show them
and ``actors.plan_changes`` charges them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.plans import PlanSubscription
    from settings import Plan


def plan_name(plan: Plan) -> str:
    """A plan as people say it: "5 VMs for 30 days".

    >>> from settings import Plan
    >>> plan_name(Plan("p", 2500, 720, 5)), plan_name(Plan("q", 90, 36, 1))
    ('5 VMs for 30 days', '1 VM for 36 hours')
    """
    hours = plan.period_hours
    period = f"{hours // 24} day" if hours % 24 == 0 else f"{hours} hour"
    count = hours // 24 if hours % 24 == 0 else hours
    vms = f"{plan.vms} VM{'s' if plan.vms != 1 else ''}"
    return f"{vms} for {period}{'s' if count != 1 else ''}"


def subscription_name(plan_id: str, vms: int, catalogue: tuple[Plan, ...]) -> str:
    """A bought plan as people say it: the catalogue's name while *plan_id* is on sale, else
    its quota of *vms* (a plan no longer offered keeps a readable name).

    >>> from settings import Plan
    >>> subscription_name("5vms", 5, (Plan("5vms", 1000, 720, 5),))
    '5 VMs for 30 days'
    >>> subscription_name("old3", 3, ()), subscription_name("solo", 1, ())
    ('3 VMs', '1 VM')
    """
    for plan in catalogue:
        if plan.plan_id == plan_id:
            return plan_name(plan)
    return f"{vms} VM{'s' if vms != 1 else ''}"


def per_vm_cents(plan: Plan) -> int:
    """The price of one VM for the period, rounded down to a cent.

    >>> from settings import Plan
    >>> per_vm_cents(Plan("p", 1000, 720, 3))
    333
    """
    return plan.price_cents // max(plan.vms, 1)


def prorata_cents(difference_cents: int, remaining_s: int, period_s: int) -> int:
    """The part of *difference_cents* that falls in the time left, rounded down.

    >>> prorata_cents(1000, 3600, 7200), prorata_cents(1000, 1, 3), prorata_cents(-5, 10, 20)
    (500, 333, 0)
    >>> prorata_cents(1000, 9999, 7200), prorata_cents(1000, -1, 7200)
    (1000, 0)
    """
    if difference_cents <= 0 or period_s <= 0:
        return 0
    remaining_s = min(max(remaining_s, 0), period_s)
    return difference_cents * remaining_s // period_s


def upgrade_cost(current: PlanSubscription, target: Plan, now: dt.datetime) -> int:
    """What upgrading *current* to *target* costs at *now*, in cents."""
    period_s = int((current.period_end - current.started_at).total_seconds())
    remaining_s = int((current.period_end - now).total_seconds())
    return prorata_cents(target.price_cents - current.price_cents, remaining_s, period_s)
