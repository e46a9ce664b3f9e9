"""Plans and VMs through real gateways and workers on PostgreSQL/SQLite and RabbitMQ."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

import actors
import messages
from models import Billing, LedgerEntry, PlanSubscription, VmAllocation, VmPoolSlot
from tests.support.login import JSON, login
from tests.support.procs import hero_admin, wait_until
from tests.support.stack import Stack
from wire.times import utcnow


def outcome(session: requests.Session, url: str, request_id: str) -> dict:
    def done() -> dict | None:
        state = session.get(f"{url}/requests/{request_id}", headers=JSON, timeout=30).json()
        return state if state["outcome"] != "pending" else None

    return wait_until(done, timeout=30, what=f"request {request_id}")


def fund(cents: int) -> None:
    billing = Billing.get()
    LedgerEntry.create(
        account=billing.account_id,
        amount_cents=cents,
        kind="adjustment",
        ref=uuid.uuid4().hex,
        balance_after_cents=billing.balance_cents + cents,
    )
    Billing.update(balance_cents=Billing.balance_cents + cents).execute()


def test_a_buy_sent_three_times_through_two_gateways_charges_once(stack: Stack) -> None:
    urls = [stack.gateway("g1"), stack.gateway("g2")]
    stack.worker()
    session = requests.Session()
    user = login(session, urls[0])
    fund(2500)
    request_id = uuid.uuid4().hex
    form = {"plan_id": "5vms", "request_id": request_id, "csrf_token": user.csrf_token}

    with ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(
                lambda u: session.post(f"{u}/plans", data=form, headers=JSON, timeout=30),
                [*urls, urls[0]],
            )
        )

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert outcome(session, urls[1], request_id)["outcome"] == "ok"
    wait_until(
        lambda: (
            stack.process("worker").count_lines("message.processed", '"actor_name": "buy_plan"')
            == 3
        ),
        what="three deliveries",
    )
    assert Billing.get().balance_cents == 1500
    assert PlanSubscription.select().count() == 1
    assert LedgerEntry.select().where(LedgerEntry.kind == "plan_purchase").count() == 1


def test_not_enough_balance_is_a_clear_message_and_no_charge(stack: Stack) -> None:
    url = stack.gateway()
    stack.worker()
    session = requests.Session()
    user = login(session, url)
    fund(999)
    request_id = uuid.uuid4().hex
    session.post(
        f"{url}/plans",
        data={"plan_id": "5vms", "request_id": request_id, "csrf_token": user.csrf_token},
        headers=JSON,
        timeout=30,
    )
    state = outcome(session, url, request_id)
    assert state["outcome"] == "refused"
    assert "costs $10.00" in state["message"] and "$9.99" in state["message"]
    assert Billing.get().balance_cents == 999 and PlanSubscription.select().count() == 0


def test_no_free_vm_is_a_clear_message_then_expiry_returns_vms_to_the_pool(
    stack: Stack,
) -> None:
    url = stack.gateway()
    stack.worker()
    session = requests.Session()
    user = login(session, url)
    fund(1000)
    buy_id = uuid.uuid4().hex
    session.post(
        f"{url}/plans",
        data={"plan_id": "5vms", "request_id": buy_id, "csrf_token": user.csrf_token},
        headers=JSON,
        timeout=30,
    )
    assert outcome(session, url, buy_id)["outcome"] == "ok"

    # No VM in the pool: a clear message, no quota used
    first = uuid.uuid4().hex
    session.post(
        f"{url}/vms",
        data={"request_id": first, "csrf_token": user.csrf_token},
        headers=JSON,
        timeout=30,
    )
    refused = outcome(session, url, first)
    assert refused["outcome"] == "refused" and "No VM is free" in refused["message"]
    assert PlanSubscription.get().vm_quota_used == 0

    # An operator adds one: the next request gets it
    assert hero_admin("pool", "add", "vm-7", env=stack.admin_env()).returncode == 0
    second = uuid.uuid4().hex
    session.post(
        f"{url}/vms",
        data={"request_id": second, "csrf_token": user.csrf_token},
        headers=JSON,
        timeout=30,
    )
    assert outcome(session, url, second)["vm_id"] == "vm-7"
    assert VmPoolSlot.get().status == "assigned"

    # When the period ends, the scheduler's expire_plans gives the VM back to the pool
    PlanSubscription.update(period_end=utcnow() - dt.timedelta(minutes=1)).execute()
    actors.build_broker(stack.env["HERO_AMQP_URL"])
    try:
        actors.send(messages.ExpirePlans())
    finally:
        actors.build_broker(None)
    wait_until(lambda: VmPoolSlot.get().status == "free", what="the VM back in the pool")
    assert PlanSubscription.get().status == "expired"
    assert VmAllocation.get().released_at is not None
    listed = hero_admin("pool", "list", "--json", env=stack.admin_env())
    assert '"status": "free"' in listed.stdout
