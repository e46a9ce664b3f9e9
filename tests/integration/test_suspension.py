"""Suspension end to end on PostgreSQL, RabbitMQ and NATS: usage through a node agent takes
an account under the floor; the scheduler's ``suspend_exhausted`` warns it near the end of
``HERO_SUSPEND_AFTER_S`` and suspends its VM after it, and the agent answers
``suspended``; a Stripe payment through the gateway resumes the VM and the agent answers
``ok``. The dashboard shows each step, and each email is sent once."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import requests

import actors
import messages
from models import Account, Notification, PlanSubscription, VmAllocation, VmPoolSlot
from models.credit import CreditState
from tests.support.credit_stack import (
    ADDRESS,
    Credit,
    seed_account,
    start_agent,
    start_bridge,
    use,
)
from tests.support.login import login
from tests.support.procs import wait_until
from tests.support.stack import STRIPE_SECRET, Stack
from tests.support.stripe_events import checkout_completed, signed
from wire.times import utcnow

GRACE_S = 600


def give_vm(account: Account) -> None:
    plan = PlanSubscription.create(
        request_id="plan-1",
        account=account,
        plan_id="5vms",
        price_cents=0,
        vm_quota_total=5,
        vm_quota_used=1,
        period_end=utcnow() + dt.timedelta(days=30),
    )
    slot = VmPoolSlot.create(vm_id="vm-41", status="assigned")
    VmAllocation.create(request_id="vm-1", account=account, subscription=plan, slot=slot)


def exhausted_for(seconds: int) -> None:
    CreditState.update(exhausted_since=utcnow() - dt.timedelta(seconds=seconds)).execute()


def send(stack: Stack, actor: str) -> None:
    actors.build_broker(stack.env["HERO_AMQP_URL"])
    try:
        actors.send(messages.message_named(actor, {}))
    finally:
        actors.build_broker(None)


def told(kind: str) -> int:
    return int(Notification.select().where(Notification.kind == kind).count())


def banner(session: requests.Session, url: str) -> str:
    page = session.get(f"{url}/", timeout=30)
    assert page.status_code == 200, page.text
    marker = 'id="credit-'
    return page.text.split(marker, 1)[1].split('"', 1)[0] if marker in page.text else "none"


def subjects(outbox: Path) -> list[str]:
    return sorted(
        str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"])
        for p in outbox.glob("*.eml")
    )


def test_exhausted_past_the_grace_period_is_suspended_and_a_payment_resumes_it(
    pg_stack: Stack,
    credit: Credit,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    # Given an account with $6, an email address and a running VM; a worker that suspends
    # after 600 s, the bridge, a node agent and a gateway where the user is logged in
    account = seed_account(600)
    Account.update(email="alice@example.org", email_verified_at=account.created_at).execute()
    give_vm(account)
    outbox = tmp_path / "outbox"
    pg_stack.worker(**credit.env, HERO_SUSPEND_AFTER_S=str(GRACE_S), HERO_OUTBOX_DIR=str(outbox))
    start_bridge(pg_stack, credit)
    start_agent(pg_stack, credit, tmp_path)
    url = pg_stack.gateway(HERO_SUSPEND_AFTER_S=str(GRACE_S))
    session = requests.Session()
    login(session, url)
    # When a host reports usage that takes it under the floor
    use(credit, 650)
    wait_until(lambda: credit.state_is("exhausted"), timeout=30, what="exhausted at the agent")
    assert banner(session, url) == "exhausted"
    # and the scheduler looks within the grace period, then near its end
    send(pg_stack, "suspend_exhausted")
    exhausted_for(GRACE_S * 8 // 10)
    send(pg_stack, "suspend_exhausted")
    send(pg_stack, "suspend_exhausted")
    wait_until(lambda: told("credit_suspension_coming"), timeout=30, what="the warning")
    # Then the user is warned, and the VM still runs
    assert banner(session, url) == "suspension_coming"
    assert VmPoolSlot.get().status == "assigned" and credit.state_is("exhausted")
    # When the grace period is over
    exhausted_for(GRACE_S + 1)
    send(pg_stack, "suspend_exhausted")
    # Then the VM is suspended and the host sees it
    wait_until(lambda: credit.state_is("suspended"), timeout=30, what="suspended at the agent")
    assert VmPoolSlot.get().status == "suspended"
    assert credit.answer()["balance_cents"] == -50
    assert banner(session, url) == "suspended"
    send(pg_stack, "suspend_exhausted")  # a second look changes nothing
    # When the user pays $20 through Stripe
    body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=2000), STRIPE_SECRET)
    assert requests.post(f"{url}/webhooks/stripe", data=body, headers=headers, timeout=30).ok
    # Then the VM is resumed and the host sees ok
    wait_until(lambda: credit.state_is("ok"), timeout=30, what="ok at the agent")
    assert VmPoolSlot.get().status == "assigned"
    assert credit.answer()["balance_cents"] == 1950
    assert banner(session, url) == "resumed"
    # and each step was told once, on the dashboard and by email
    send(pg_stack, "suspend_exhausted")
    send(pg_stack, "send_notifications")
    wait_until(lambda: len(list(outbox.glob("*.eml"))) >= 6, timeout=30, what="the emails")
    assert subjects(outbox) == sorted(
        [
            "Your Hero credit is running low",
            "Your Hero credit is used up",
            "Your Hero VMs will be suspended soon",
            "Your Hero VMs are suspended",
            "Your Hero VMs are running again",
            "Your Hero credit: $20.00 received",
        ]
    )
    assert all(
        told(kind) == 1
        for kind in (
            "low_balance",
            "credit_exhausted",
            "credit_suspension_coming",
            "credit_suspended",
            "credit_resumed",
        )
    )
