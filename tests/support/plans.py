"""Plans on SQLite for the page tests: an account with a plan, a started VM."""

from __future__ import annotations

import uuid

from actors.plans import PoolAssignmentProvisioner, allocate, buy, carry_out
from models import Billing, VmPoolSlot
from tests.support.login import ALICE_ADDRESS
from tests.support.web import account_of
from wire.times import utcnow


def with_plan(plan_id: str = "5vms") -> None:
    fund(2500)
    outcome = act("buy_plan", lambda r: buy(r, ALICE_ADDRESS, plan_id, now=utcnow()))
    assert outcome["outcome"] == "ok"


def start_vm(vm_id: str, address: str | None = "10.1.0.7") -> None:
    VmPoolSlot.create(vm_id=vm_id, address=address)
    outcome = act(
        "allocate_vm",
        lambda r: allocate(r, ALICE_ADDRESS, now=utcnow(), provisioner=PoolAssignmentProvisioner()),
    )
    assert outcome["outcome"] == "ok"


def fund(cents: int) -> None:
    Billing.update(balance_cents=cents).where(Billing.account == account_of()).execute()


def act(kind: str, action) -> dict:
    request_id = uuid.uuid4().hex
    return carry_out(kind, request_id, ALICE_ADDRESS, lambda: action(request_id))
