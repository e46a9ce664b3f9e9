"""Suspension: warned near the end of the grace period, suspended after it, resumed when a
payment lifts the balance above the limit; each notification once per crossing; one
broken account does not stop the others; on PostgreSQL a payment racing the suspension
never leaves VMs suspended for an account in credit."""

from __future__ import annotations

import datetime as dt
import threading
from threading import Barrier

import pytest

from actors import credit, suspension
from actors.ledger import post
from actors.notify import render
from actors.plans import PoolAssignmentProvisioner, Refused, allocate
from models import (
    Account,
    Notification,
    PlanSubscription,
    VmAllocation,
    VmPoolSlot,
    write_transaction,
)
from models.credit import CreditState
from runtime.scheduler import JOBS
from tests.support.deps import DepsSwitch
from wire.times import utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
OTHER = "4ff:2b7c:1c4d:5a2e:aa01:9b3f:2c11:7d80"
GRACE = 3600


@pytest.fixture(autouse=True)
def grace(deps: DepsSwitch) -> None:
    deps.set(credit_policy=credit.CreditPolicy(floor_cents=0, suspend_after_s=GRACE))


def with_vm(address: str, vm_id: str) -> Account:
    account = Account.create(address=address)
    plan = PlanSubscription.create(
        request_id=f"p-{vm_id}",
        account=account,
        plan_id="1vm",
        price_cents=0,
        vm_quota_total=2,
        vm_quota_used=1,
        period_end=utcnow() + dt.timedelta(days=30),
    )
    slot = VmPoolSlot.create(vm_id=vm_id, status="assigned")
    VmAllocation.create(request_id=f"a-{vm_id}", account=account, subscription=plan, slot=slot)
    return account


def charge(account: Account, cents: int, ref: str) -> None:
    with write_transaction():
        post(account, amount_cents=cents, kind="adjustment", ref=ref)


def exhausted_for(account: Account, seconds: float) -> dt.datetime:
    """Make *account*'s stay at or under its limit *seconds* old; returns now."""
    now = utcnow()
    CreditState.update(exhausted_since=now - dt.timedelta(seconds=seconds)).where(
        CreditState.account == account
    ).execute()
    return now


def kinds(account: Account) -> list[str]:
    return [
        n.kind
        for n in Notification.select()
        .where(Notification.account == account)
        .order_by(Notification.id)
    ]


def test_the_scheduler_sends_the_suspension_job_to_a_declared_actor() -> None:
    import actors

    declared = set(actors.build_broker(None).get_declared_actors())
    assert {job.actor for job in JOBS} <= declared
    assert "suspend_exhausted" in {job.actor for job in JOBS}


def test_within_the_grace_period_nothing_happens(sqlite_db: str) -> None:
    account = with_vm(USER, "vm-1")
    charge(account, -10, "use")
    now = exhausted_for(account, GRACE * 0.5)
    assert suspension.run(now) == {"suspended": 0, "warned": 0, "failed": 0}
    assert VmPoolSlot.get().status == "assigned"
    assert kinds(account) == ["credit_exhausted"]


def test_near_the_end_the_user_is_warned_once(sqlite_db: str) -> None:
    account = with_vm(USER, "vm-1")
    charge(account, -10, "use")
    now = exhausted_for(account, GRACE * 0.8)
    assert suspension.run(now)["warned"] == 1
    assert suspension.run(now + dt.timedelta(seconds=60))["warned"] == 0
    assert kinds(account) == ["credit_exhausted", "credit_suspension_coming"]
    assert VmPoolSlot.get().status == "assigned"


def test_after_the_grace_period_the_vms_are_suspended_and_the_state_published(
    sqlite_db: str,
) -> None:
    account = with_vm(USER, "vm-1")
    charge(account, -10, "use")
    seq = CreditState.get().seq
    now = exhausted_for(account, GRACE + 1)
    assert suspension.run(now)["suspended"] == 1
    row = CreditState.get()
    assert (row.state, row.seq, row.pending) == ("suspended", seq + 1, True)
    assert VmPoolSlot.get().status == "suspended"
    # a second run (or a second scheduler) changes nothing and tells nothing again
    assert suspension.run(now + dt.timedelta(seconds=60))["suspended"] == 0
    assert kinds(account) == ["credit_exhausted", "credit_suspended"]
    # more usage keeps it suspended; a new VM is refused
    charge(account, -5, "more")
    assert CreditState.get().state == "suspended"
    with pytest.raises(Refused, match="suspended"), write_transaction():
        allocate("r", USER, now=utcnow(), provisioner=PoolAssignmentProvisioner())


def test_a_payment_above_the_limit_resumes_once_and_one_that_falls_short_does_not(
    sqlite_db: str,
) -> None:
    account = with_vm(USER, "vm-1")
    charge(account, -500, "use")
    suspension.run(exhausted_for(account, GRACE + 1))
    charge(account, 200, "short")  # still -300: stays suspended
    assert (CreditState.get().state, VmPoolSlot.get().status) == ("suspended", "suspended")
    charge(account, 1000, "topup")
    row = CreditState.get()
    assert (row.state, row.suspended_at, row.exhausted_since) == ("ok", None, None)
    assert VmPoolSlot.get().status == "assigned"
    charge(account, 1000, "again")
    assert kinds(account) == ["credit_exhausted", "credit_suspended", "credit_resumed"]
    # a new crossing is a new round of notifications
    charge(account, -3000, "big")
    suspension.run(exhausted_for(account, GRACE + 1))
    assert kinds(account).count("credit_suspended") == 2


def test_an_allowance_below_the_floor_keeps_an_account_running(sqlite_db: str) -> None:
    account = with_vm(USER, "vm-1")
    charge(account, -10, "use")
    CreditState.update(allowance_cents=100).execute()
    charge(account, -1, "recompute")
    assert CreditState.get().state == "low"
    assert suspension.run(exhausted_for(account, GRACE + 1))["suspended"] == 0


class Flaky(PoolAssignmentProvisioner):
    def suspend(self, account_id: int) -> list[str]:
        if Account.get_by_id(account_id).address == USER:
            raise RuntimeError("hypervisor unreachable")
        return super().suspend(account_id)


def test_an_account_that_fails_is_left_for_the_next_run_and_the_others_suspended(
    sqlite_db: str,
) -> None:
    poison, fine = with_vm(USER, "vm-1"), with_vm(OTHER, "vm-2")
    for account in (poison, fine):
        charge(account, -10, f"use-{account.id}")
        now = exhausted_for(account, GRACE + 1)
    assert suspension.run(now, Flaky()) == {"suspended": 1, "warned": 1, "failed": 1}
    assert CreditState.get(CreditState.account == poison).state == "exhausted"
    assert VmPoolSlot.get(VmPoolSlot.vm_id == "vm-1").status == "assigned"
    assert CreditState.get(CreditState.account == fine).state == "suspended"
    assert suspension.run(now)["suspended"] == 1  # the hypervisor is back


@pytest.mark.parametrize("kind", ["credit_suspension_coming", "credit_suspended", "credit_resumed"])
def test_each_step_has_its_own_email(kind: str) -> None:
    subject, text = render(
        kind, {"balance_cents": -250, "suspend_at": "2026-01-02T03:04:05Z", "vms": ["vm-1"]}
    )
    assert "Hero" in subject and not subject.startswith("Hero:")
    assert "-$2.50" in text or "vm-1" in text


def test_a_payment_racing_the_suspension_never_leaves_vms_suspended_in_credit(
    pg_db: str,
) -> None:
    for attempt in range(15):
        account = with_vm(f"5{attempt:02x}:c662:fd00:9e92:5d99:34ed:ab8:82ab", f"vm-{attempt}")
        charge(account, -10, f"use-{attempt}")
        now = exhausted_for(account, GRACE + 1)
        barrier = threading.Barrier(2)

        def pay(
            account: Account = account, attempt: int = attempt, barrier: Barrier = barrier
        ) -> None:
            barrier.wait()
            charge(account, 1000, f"pay-{attempt}")

        def run(now: dt.datetime = now, barrier: Barrier = barrier) -> None:
            barrier.wait()
            suspension.run(now)

        threads = [threading.Thread(target=pay), threading.Thread(target=run)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        row = CreditState.get(CreditState.account == account)
        assert row.state == "ok" and row.suspended_at is None
        assert VmPoolSlot.get(VmPoolSlot.vm_id == f"vm-{attempt}").status == "assigned"
        told = kinds(account)
        assert told.count("credit_suspended") == told.count("credit_resumed") <= 1
