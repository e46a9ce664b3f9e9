"""The demo node agent reports usage for logged-in users through journal, git and aggregator."""

from __future__ import annotations

import datetime as dt
import random
import threading
from pathlib import Path

import pytest

import cli.demo as demo
from actors.aggregator import ForgeAccess
from models import (
    Account,
    Billing,
    PlanSubscription,
    Session,
    UsageRecord,
    VmAllocation,
    VmPoolSlot,
)
from tests.support.deps import DepsSwitch
from wire.times import utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def test_synthetic_usage_covers_every_category() -> None:
    rounds = demo.synthetic_usage(random.Random(1))
    assert {u.applies_to for u in rounds} == {"hero_os_hourly", "llm", "vm"}
    assert all(u.amount_cents > 0 for u in rounds)


def test_vm_hours_count_only_running_vms() -> None:
    assert "vm" not in {u.applies_to for u in demo.synthetic_usage(random.Random(1), 0)}
    (vm,) = [u for u in demo.synthetic_usage(random.Random(1), 3) if u.applies_to == "vm"]
    assert vm.quantity == 3 and vm.amount_cents >= 6


def logged_in(address: str) -> Account:
    account = Account.create(address=address)
    Billing.create(account=account)
    Session.create(
        token_hash=address.ljust(64, "t")[:64],
        address=address,
        csrf_token="c",
        expires_at=utcnow() + dt.timedelta(hours=1),
    )
    return account


def with_plan(account: Account, *vm_states: str) -> PlanSubscription:
    plan = PlanSubscription.create(
        request_id="p",
        account=account,
        plan_id="5vms",
        price_cents=1000,
        vm_quota_total=5,
        vm_quota_used=len(vm_states),
        period_end=utcnow() + dt.timedelta(days=1),
    )
    for i, state in enumerate(vm_states):
        slot = VmPoolSlot.create(vm_id=f"{account.address}-vm{i}", status=state)
        VmAllocation.create(request_id=f"v{i}", account=account, subscription=plan, slot=slot)
    return plan


def test_only_logged_in_users_with_a_plan_and_a_vm_get_usage(sqlite_db: str) -> None:
    logged_in("newcomer")  # logged in, nothing bought
    with_plan(logged_in("plan-only"))  # a plan and no VM
    with_plan(logged_in("two-running"), "assigned", "assigned", "suspended")
    with_plan(logged_in("all-suspended"), "suspended")
    expired = with_plan(logged_in("expired"), "assigned")
    PlanSubscription.update(period_end=utcnow() - dt.timedelta(minutes=1)).where(
        PlanSubscription.id == expired.id
    ).execute()
    released = with_plan(logged_in("released"), "assigned")
    VmAllocation.update(released_at=utcnow()).where(VmAllocation.subscription == released).execute()

    assert demo.users_with_vms(utcnow()) == {"two-running": 2, "all-suspended": 0}


def test_a_demo_round_charges_the_logged_in_user(
    sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deps: DepsSwitch
) -> None:
    account = logged_in(USER)
    with_plan(account, "assigned")
    deps.set(forge=ForgeAccess(mirror_dir=str(tmp_path / "mirrors")))
    monkeypatch.setattr(demo, "ROUND_S", 0.01)
    stop = threading.Event()
    thread = threading.Thread(
        target=demo.run_demo, args=(str(tmp_path / "demo"), stop), kwargs={"seed": 7}
    )
    thread.start()
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while UsageRecord.select().count() < 3 and dt.datetime.now() < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert UsageRecord.select().count() >= 3
    assert {r.via for r in UsageRecord.select()} == {"git"}
    assert Billing.get().balance_cents < 0
