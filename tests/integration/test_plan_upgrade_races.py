"""Plan upgrades, releases and renewals at the same moment, on PostgreSQL (SQLite
serialises writers and hides these races): one charge, exact balances, quotas that hold."""

from __future__ import annotations

import uuid
from functools import partial

from actors.ledger import audit_mismatches
from actors.plan_changes import release_vm, upgrade_plan
from actors.plans import allocate_vm, buy_plan
from models import Billing, LedgerEntry, PlanSubscription, VmPoolSlot
from tests.support.races import at_once, funded

ROUNDS = 10


def test_simultaneous_upgrades_charge_once(pg_db: str) -> None:
    for _ in range(ROUNDS):
        # Given an account with the 5vms plan and credit for two upgrades
        account = funded(3000)
        assert buy_plan(uuid.uuid4().hex, account.address, "5vms")["outcome"] == "ok"

        # When two upgrades with different request ids and a twin of one arrive together
        twin = uuid.uuid4().hex
        outcomes = at_once(
            partial(upgrade_plan, twin, account.address, "10vms"),
            partial(upgrade_plan, twin, account.address, "10vms"),
            partial(upgrade_plan, uuid.uuid4().hex, account.address, "10vms"),
        )

        # Then one upgrade happened and was charged once
        oks = [o for o in outcomes if o["outcome"] == "ok"]
        assert len({o["request_id"] for o in oks}) == 1, outcomes
        upgrades = LedgerEntry.select().where(
            (LedgerEntry.account == account) & (LedgerEntry.kind == "plan_purchase")
        )
        assert upgrades.count() == 2  # the buy and one upgrade
        charged = oks[0]["charged_cents"]
        assert 0 < charged <= 1000
        assert Billing.get(Billing.account == account).balance_cents == 2000 - charged
        plan = PlanSubscription.get(PlanSubscription.account == account)
        assert (plan.plan_id, plan.vm_quota_total) == ("10vms", 10)
    assert audit_mismatches() == []


def test_releases_and_allocations_at_once_keep_the_quota_exact(pg_db: str) -> None:
    account = funded(1000)
    assert buy_plan(uuid.uuid4().hex, account.address, "5vms")["outcome"] == "ok"
    VmPoolSlot.insert_many([{"vm_id": f"vm-r{i}"} for i in range(10)]).execute()
    started = [allocate_vm(uuid.uuid4().hex, account.address) for _ in range(5)]
    assert all(s["outcome"] == "ok" for s in started)
    for round_ in range(ROUNDS):
        held = started[round_ % 5]["vm_id"]
        # releasing one VM twice under two ids and asking for one more, all at once
        outcomes = at_once(
            partial(release_vm, uuid.uuid4().hex, account.address, held),
            partial(release_vm, uuid.uuid4().hex, account.address, held),
            partial(allocate_vm, uuid.uuid4().hex, account.address),
        )
        releases = sorted(o["outcome"] for o in outcomes[:2])
        assert releases == ["ok", "refused"], outcomes
        plan = PlanSubscription.get(PlanSubscription.account == account)
        in_use = VmPoolSlot.select().where(VmPoolSlot.status == "assigned").count()
        assert plan.vm_quota_used == in_use <= 5
        if outcomes[2]["outcome"] == "ok":
            started[round_ % 5] = outcomes[2]
        else:  # the allocation came first, while all five were in use
            assert "all in use" in outcomes[2]["message"]
            started[round_ % 5] = allocate_vm(uuid.uuid4().hex, account.address)
            assert started[round_ % 5]["outcome"] == "ok"
