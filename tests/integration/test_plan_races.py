"""Plan buys and VM allocations at the same moment, on PostgreSQL (SQLite serialises
writers and hides these races): the checks hold under concurrency."""

from __future__ import annotations

import uuid
from functools import partial

from actors.ledger import audit_mismatches
from actors.plans import allocate_vm, buy_plan
from models import (
    ActionRequest,
    Billing,
    LedgerEntry,
    PlanSubscription,
    VmAllocation,
    VmPoolSlot,
)
from tests.support.races import at_once, funded

ROUNDS = 20


def test_two_simultaneous_plan_buys_make_one_plan_and_one_charge(pg_db: str) -> None:
    for _ in range(ROUNDS):
        # Given an account that can pay for one 5vms plan ($10.00), not two
        account = funded(1500)

        outcomes = at_once(
            *[partial(buy_plan, uuid.uuid4().hex, account.address, "5vms") for _ in range(2)]
        )

        assert sorted(o["outcome"] for o in outcomes) == ["ok", "refused"], outcomes
        plans = PlanSubscription.select().where(PlanSubscription.account == account)
        assert plans.count() == 1
        charges = LedgerEntry.select().where(
            (LedgerEntry.account == account) & (LedgerEntry.kind == "plan_purchase")
        )
        assert charges.count() == 1
        assert Billing.get(Billing.account == account).balance_cents == 500
    assert audit_mismatches() == []


def test_simultaneous_allocations_are_never_refused_while_vms_are_free(pg_db: str) -> None:
    # Given four accounts with a plan each and four free VMs
    accounts = [funded(1000) for _ in range(4)]
    for account in accounts:
        assert buy_plan(uuid.uuid4().hex, account.address, "5vms")["outcome"] == "ok"
    for round_ in range(ROUNDS // 4):
        VmPoolSlot.insert_many([{"vm_id": f"vm-{round_}-{i}"} for i in range(4)]).execute()

        outcomes = at_once(*[partial(allocate_vm, uuid.uuid4().hex, a.address) for a in accounts])

        assert [o["outcome"] for o in outcomes] == ["ok"] * 4, outcomes
        assert len({o["vm_id"] for o in outcomes}) == 4
    assert VmPoolSlot.select().where(VmPoolSlot.status == "free").count() == 0
    assert VmAllocation.select().count() == ROUNDS


def test_a_vm_held_by_a_request_that_fails_is_not_refused_to_another(pg_db: str) -> None:
    for _ in range(ROUNDS):
        # Given A with one VM left in its quota asking twice, B asking once, two free VMs
        a, b = funded(1000), funded(1000)
        for account in (a, b):
            assert buy_plan(uuid.uuid4().hex, account.address, "5vms")["outcome"] == "ok"
        PlanSubscription.update(vm_quota_used=4).where(PlanSubscription.account == a).execute()
        VmPoolSlot.insert_many([{"vm_id": uuid.uuid4().hex} for _ in range(2)]).execute()

        first, second, other = at_once(
            partial(allocate_vm, uuid.uuid4().hex, a.address),
            partial(allocate_vm, uuid.uuid4().hex, a.address),
            partial(allocate_vm, uuid.uuid4().hex, b.address),
        )

        assert other["outcome"] == "ok", other
        assert sorted([first["outcome"], second["outcome"]]) == ["ok", "refused"]
        assert "all in use" in (first["message"] + second["message"])
    assert VmPoolSlot.select().where(VmPoolSlot.status == "free").count() == 0


def test_another_accounts_request_id_leaves_each_request_its_own_outcome(pg_db: str) -> None:
    # Given two accounts, and one request id both send at the same moment
    mine, theirs = funded(1000), funded(1000)
    for _ in range(ROUNDS // 4):
        request_id = uuid.uuid4().hex

        outcomes = at_once(
            partial(buy_plan, request_id, mine.address, "5vms"),
            partial(buy_plan, request_id, theirs.address, "5vms"),
        )

        assert [o["request_id"] for o in outcomes] == [request_id, request_id]
        rows = ActionRequest.select().where(ActionRequest.request_id == request_id)
        assert sorted(r.address for r in rows) == sorted([mine.address, theirs.address])
        PlanSubscription.update(status="expired").execute()
    assert PlanSubscription.select().where(PlanSubscription.account == mine).count() >= 1
    assert PlanSubscription.select().where(PlanSubscription.account == theirs).count() >= 1
