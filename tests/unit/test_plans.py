"""buy_plan / allocate_vm / expiry on SQLite: idempotent requests, clear refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.ledger import audit_mismatches, post
from actors.plans import (
    PoolAssignmentProvisioner,
    allocate,
    buy,
    carry_out,
    expire,
)
from models import (
    Account,
    ActionRequest,
    Billing,
    LedgerEntry,
    Notification,
    PlanSubscription,
    VmAllocation,
    VmPoolSlot,
    write_transaction,
)
from wire.times import utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.fixture
def account(sqlite_db: str) -> Account:
    account = Account.create(address=USER)
    Billing.create(account=account, balance_cents=2500)
    LedgerEntry.create(
        account=account, amount_cents=2500, kind="payment", ref="seed", balance_after_cents=2500
    )
    return account


def buy_req(request_id: str = "r1", plan_id: str = "5vms") -> dict:
    return carry_out(
        "buy_plan", request_id, USER, lambda: buy(request_id, USER, plan_id, now=utcnow())
    )


def vm_req(request_id: str) -> dict:
    return carry_out(
        "allocate_vm",
        request_id,
        USER,
        lambda: allocate(request_id, USER, now=utcnow(), provisioner=PoolAssignmentProvisioner()),
    )


def test_buying_a_plan_debits_its_price_once_however_often_the_request_comes(account) -> None:
    first = buy_req()
    again = buy_req()
    assert first["outcome"] == "ok" and again == first
    assert Billing.get().balance_cents == 1500
    assert PlanSubscription.get().vm_quota_total == 5
    assert LedgerEntry.select().where(LedgerEntry.kind == "plan_purchase").count() == 1
    assert not audit_mismatches()


def test_not_enough_balance_is_refused_clearly_and_charges_nothing(account) -> None:
    Billing.update(balance_cents=999).execute()
    refused = buy_req()
    assert refused["outcome"] == "refused"
    assert "costs $10.00" in refused["message"] and "$9.99" in refused["message"]
    assert "nothing was charged" in refused["message"]
    assert Billing.get().balance_cents == 999 and PlanSubscription.select().count() == 0


def test_a_second_plan_while_one_is_active_is_refused(account) -> None:
    buy_req("r1")
    second = buy_req("r2", "10vms")
    assert second["outcome"] == "refused" and "already have the 5vms plan" in second["message"]
    assert Billing.get().balance_cents == 1500


def test_an_unknown_plan_is_refused(account) -> None:
    assert "no plan called" in buy_req(plan_id="gold")["message"]


def test_a_vm_comes_from_the_pool_and_uses_one_of_the_quota_once(account) -> None:
    buy_req()
    VmPoolSlot.create(vm_id="vm-1", address="10.0.0.5")
    first = vm_req("v1")
    assert vm_req("v1") == first
    assert first["outcome"] == "ok" and first["vm_id"] == "vm-1"
    assert PlanSubscription.get().vm_quota_used == 1
    assert VmPoolSlot.get().status == "assigned"


def test_no_free_vm_is_a_clear_message_and_consumes_no_quota(account) -> None:
    buy_req()
    refused = vm_req("v1")
    assert refused["outcome"] == "refused" and "No VM is free" in refused["message"]
    assert PlanSubscription.get().vm_quota_used == 0


def test_a_vm_without_a_plan_is_refused(account) -> None:
    VmPoolSlot.create(vm_id="vm-1")
    assert "need an active plan" in vm_req("v1")["message"]
    assert VmPoolSlot.get().status == "free"


def test_the_quota_is_a_hard_limit(account) -> None:
    buy_req()
    for i in range(6):
        VmPoolSlot.create(vm_id=f"vm-{i}")
    outcomes = [vm_req(f"v{i}")["outcome"] for i in range(6)]
    assert outcomes == ["ok"] * 5 + ["refused"]
    assert VmPoolSlot.select().where(VmPoolSlot.status == "free").count() == 1


def test_expiry_returns_vms_to_the_pool_and_warns_before(account) -> None:
    buy_req()
    VmPoolSlot.create(vm_id="vm-1")
    vm_req("v1")
    plan = PlanSubscription.get()
    assert expire(plan.period_end - dt.timedelta(hours=2)) == {"expired": 0, "warned": 1}
    assert expire(plan.period_end - dt.timedelta(hours=1)) == {"expired": 0, "warned": 0}
    assert expire(plan.period_end + dt.timedelta(seconds=1))["expired"] == 1
    assert PlanSubscription.get().status == "expired"
    assert VmPoolSlot.get().status == "free"
    assert VmAllocation.get().released_at is not None
    assert Notification.get().kind == "plan_expiring"
    # a new plan can be bought afterwards
    assert buy_req("r2")["outcome"] == "ok"


def test_a_plan_whose_period_ended_before_expiry_ran_is_ended_by_the_next_buy(account) -> None:
    buy_req("r1")
    VmPoolSlot.create(vm_id="vm-1")
    vm_req("v1")
    PlanSubscription.update(period_end=utcnow() - dt.timedelta(minutes=1)).execute()
    with write_transaction():
        post(Billing.get().account_id, amount_cents=1000, kind="payment", ref="more")

    assert buy_req("r2")["outcome"] == "ok"

    statuses = [p.status for p in PlanSubscription.select().order_by(PlanSubscription.id)]
    assert statuses == ["expired", "active"]
    assert VmPoolSlot.get().status == "free" and VmAllocation.get().released_at is not None


def test_another_accounts_request_id_does_not_touch_mine(account) -> None:
    other = "41f:9a01:3c22:7e10:aa55:1234:5678:9abc"
    Account.create(address=other)
    theirs = carry_out("buy_plan", "r1", other, lambda: buy("r1", other, "5vms", now=utcnow()))
    mine = buy_req("r1")
    assert theirs["outcome"] == "refused" and "costs $10.00" in theirs["message"]
    assert mine["outcome"] == "ok" and Billing.get(Billing.account == account).balance_cents == 1500
    assert ActionRequest.select().count() == 2
