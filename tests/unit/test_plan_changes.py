"""Plan upgrade (pro rata), opt-in renewal and VM release on SQLite."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.ledger import audit_mismatches
from actors.plan_changes import release, renew_due, set_renewal, upgrade
from actors.plans import PoolAssignmentProvisioner, allocate, buy, carry_out, expire
from models import Account, Billing, LedgerEntry, PlanSubscription, VmAllocation, VmPoolSlot
from models.plan_rules import per_vm_cents, plan_name, prorata_cents
from settings import Plan
from wire.times import utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
DAY = dt.timedelta(days=1)


@pytest.fixture
def account(sqlite_db: str) -> Account:
    account = Account.create(address=USER)
    Billing.create(account=account, balance_cents=2500)
    LedgerEntry.create(
        account=account, amount_cents=2500, kind="payment", ref="seed", balance_after_cents=2500
    )
    return account


def req(kind: str, request_id: str, action) -> dict:
    return carry_out(kind, request_id, USER, action)


def bought(now: dt.datetime, plan_id: str = "5vms") -> PlanSubscription:
    assert req("buy_plan", "b1", lambda: buy("b1", USER, plan_id, now=now))["outcome"] == "ok"
    return PlanSubscription.get()


def vm(request_id: str, now: dt.datetime) -> dict:
    return req(
        "allocate_vm",
        request_id,
        lambda: allocate(request_id, USER, now=now, provisioner=PoolAssignmentProvisioner()),
    )


def test_plans_are_named_for_people_with_the_price_per_vm() -> None:
    assert plan_name(Plan("5vms", 1000, 720, 5)) == "5 VMs for 30 days"
    assert plan_name(Plan("one", 100, 24, 1)) == "1 VM for 1 day"
    assert plan_name(Plan("odd", 100, 36, 2)) == "2 VMs for 36 hours"
    assert per_vm_cents(Plan("5vms", 1000, 720, 5)) == 200


@given(
    difference=st.integers(min_value=-(10**9), max_value=10**9),
    period=st.integers(min_value=0, max_value=10**8),
    remaining=st.integers(min_value=-(10**8), max_value=2 * 10**8),
)
def test_prorata_never_charges_more_than_the_exact_share(
    difference: int, period: int, remaining: int
) -> None:
    cost = prorata_cents(difference, remaining, period)
    assert isinstance(cost, int) and cost >= 0
    if difference > 0 and period > 0:
        share = min(max(remaining, 0), period)
        # rounded down: within one cent below the exact amount, never above it
        assert cost * period <= difference * share < (cost + 1) * period
    else:
        assert cost == 0


def test_an_upgrade_halfway_charges_half_the_difference_once(account) -> None:
    start = utcnow()
    bought(start)
    halfway = start + dt.timedelta(hours=360)
    first = req("upgrade_plan", "u1", lambda: upgrade("u1", USER, "10vms", now=halfway))
    again = req("upgrade_plan", "u1", lambda: upgrade("u1", USER, "10vms", now=halfway))
    assert first == again and first["outcome"] == "ok"
    assert first["charged_cents"] == 500 and first["balance_after_cents"] == 1000
    plan = PlanSubscription.get()
    assert (plan.plan_id, plan.vm_quota_total, plan.price_cents) == ("10vms", 10, 2000)
    assert plan.period_end == start + dt.timedelta(hours=720)  # the period's end stays
    assert Billing.get().balance_cents == 1000
    assert not audit_mismatches()


def test_the_upgrade_rounds_a_fraction_of_a_cent_down(account) -> None:
    start = utcnow()
    bought(start)
    # 1000 cents x 1 s / 2,592,000 s is a tiny fraction of a cent: nothing is charged
    near_end = start + dt.timedelta(hours=720) - dt.timedelta(seconds=1)
    done = req("upgrade_plan", "u1", lambda: upgrade("u1", USER, "10vms", now=near_end))
    assert done["charged_cents"] == 0 and PlanSubscription.get().vm_quota_total == 10
    # 1000 x 3 days / 30 days = 100 cents exactly
    PlanSubscription.update(plan_id="5vms", vm_quota_total=5, price_cents=1000).execute()
    three_days_left = start + dt.timedelta(days=27)
    done = req("upgrade_plan", "u2", lambda: upgrade("u2", USER, "10vms", now=three_days_left))
    assert done["charged_cents"] == 100


def test_upgrades_that_cannot_happen_say_why_and_charge_nothing(account) -> None:
    now = utcnow()
    no_plan = req("upgrade_plan", "u0", lambda: upgrade("u0", USER, "10vms", now=now))
    assert "no plan to upgrade" in no_plan["message"]
    bought(now, "10vms")
    smaller = req("upgrade_plan", "u1", lambda: upgrade("u1", USER, "5vms", now=now))
    assert smaller["outcome"] == "refused" and "already has 10 VMs" in smaller["message"]
    unknown = req("upgrade_plan", "u2", lambda: upgrade("u2", USER, "gold", now=now))
    assert "no plan called 'gold'" in unknown["message"]
    assert Billing.get().balance_cents == 500


def test_an_upgrade_the_balance_cannot_cover_is_refused(account) -> None:
    now = utcnow()
    bought(now)
    Billing.update(balance_cents=499).execute()
    refused = req("upgrade_plan", "u1", lambda: upgrade("u1", USER, "10vms", now=now))
    assert refused["outcome"] == "refused"
    assert "costs $10.00" in refused["message"] and "$4.99" in refused["message"]
    assert PlanSubscription.get().vm_quota_total == 5


def test_releasing_a_vm_frees_its_place_in_the_quota_and_the_pool(account) -> None:
    now = utcnow()
    bought(now)
    VmPoolSlot.create(vm_id="vm-1", address="10.0.0.5")
    assert vm("v1", now)["outcome"] == "ok"
    done = req("release_vm", "r1", lambda: release("r1", USER, "vm-1", now=now))
    assert done["outcome"] == "ok"
    assert req("release_vm", "r1", lambda: release("r1", USER, "vm-1", now=now)) == done
    assert PlanSubscription.get().vm_quota_used == 0
    assert VmPoolSlot.get().status == "free"
    assert VmAllocation.get().released_at is not None
    again = req("release_vm", "r2", lambda: release("r2", USER, "vm-1", now=now))
    assert again["outcome"] == "refused" and "no VM called 'vm-1'" in again["message"]
    # the freed place can be used again
    assert vm("v2", now)["outcome"] == "ok" and PlanSubscription.get().vm_quota_used == 1


def test_another_accounts_vm_cannot_be_released(account) -> None:
    now = utcnow()
    bought(now)
    VmPoolSlot.create(vm_id="vm-1")
    vm("v1", now)
    Account.create(address="other")
    refused = carry_out("release_vm", "x", "other", lambda: release("x", "other", "vm-1", now=now))
    assert refused["outcome"] == "refused" and VmPoolSlot.get().status == "assigned"


def test_renewal_is_off_by_default_and_the_plan_expires(account) -> None:
    start = utcnow()
    plan = bought(start)
    assert plan.auto_renew is False
    expire(plan.period_end + dt.timedelta(seconds=1))
    assert PlanSubscription.get().status == "expired"
    assert Billing.get().balance_cents == 1500


def test_an_opted_in_plan_renews_once_at_its_end_when_the_balance_allows(account) -> None:
    start = utcnow()
    plan = bought(start)
    VmPoolSlot.create(vm_id="vm-1")
    vm("v1", start)
    on = req("set_renewal", "s1", lambda: set_renewal("s1", USER, True, now=start))
    assert on["outcome"] == "ok" and PlanSubscription.get().auto_renew is True
    end = plan.period_end
    assert renew_due(end - dt.timedelta(seconds=1)) == 0  # not before its end
    expire(end + dt.timedelta(seconds=1))
    assert renew_due(end + dt.timedelta(seconds=2)) == 0  # once
    renewed = PlanSubscription.get()
    assert renewed.status == "active" and renewed.period_end == end + dt.timedelta(hours=720)
    assert renewed.started_at == end and renewed.vm_quota_used == 1
    assert VmPoolSlot.get().status == "assigned"  # the VM keeps running
    assert Billing.get().balance_cents == 500
    charges = LedgerEntry.select().where(LedgerEntry.kind == "plan_purchase")
    assert charges.count() == 2
    assert not audit_mismatches()


def test_an_opted_in_plan_the_balance_cannot_renew_expires(account) -> None:
    start = utcnow()
    plan = bought(start)
    req("set_renewal", "s1", lambda: set_renewal("s1", USER, True, now=start))
    Billing.update(balance_cents=999).execute()
    expire(plan.period_end + dt.timedelta(seconds=1))
    assert PlanSubscription.get().status == "expired"
    assert Billing.get().balance_cents == 999


def test_renewal_can_be_turned_off_again(account) -> None:
    start = utcnow()
    plan = bought(start)
    req("set_renewal", "s1", lambda: set_renewal("s1", USER, True, now=start))
    req("set_renewal", "s2", lambda: set_renewal("s2", USER, False, now=start))
    expire(plan.period_end + dt.timedelta(seconds=1))
    assert PlanSubscription.get().status == "expired"
