"""Refunds started by an operator, through the real CLI, gateway and worker: the request
reaches Stripe's refunds API with an idempotency key, the balance waits for Stripe's
webhook, and the webhook (delivered twice) debits once."""

from __future__ import annotations

import json

import requests

from models import Account, AdminAudit, Billing, LedgerEntry
from tests.support.fake_stripe import FakeStripe, fake_stripe
from tests.support.procs import HeroProcess, hero_admin, wait_until
from tests.support.stack import STRIPE_SECRET, Stack
from tests.support.stripe_events import checkout_completed, signed

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
PAYMENT = "pi_operator_refund"


def processed(actor: str) -> tuple[str, str]:
    return ("message.processed", f'"actor_name": "{actor}"')


def paid_through(stack: Stack, fake: FakeStripe) -> tuple[str, HeroProcess]:
    """An account that paid $30.00 through a gateway and worker that talk to *fake*."""
    Billing.create(account=Account.create(address=ADDRESS))
    url = stack.gateway(HERO_STRIPE_API_BASE=fake.url)
    worker = stack.worker(HERO_STRIPE_API_BASE=fake.url)
    body, headers = signed(
        checkout_completed(address=ADDRESS, amount_cents=3000, payment_intent=PAYMENT),
        STRIPE_SECRET,
    )
    answer = requests.post(url + "/webhooks/stripe", data=body, headers=headers, timeout=30)
    assert answer.status_code == 200
    worker.wait_lines(*processed("apply_payment"), count=1)
    fake.charge_amounts[PAYMENT] = 3000
    return url, worker


def balance() -> int:
    return int(Billing.get().balance_cents)


def test_an_operator_refund_reaches_stripe_and_its_webhook_debits_once(stack: Stack) -> None:
    with fake_stripe("sk_test_integration") as fake:
        url, worker = paid_through(stack, fake)
        # When an operator refunds $10.00 of the payment
        done = hero_admin(
            "payments",
            "refund",
            PAYMENT,
            "--amount",
            "1000",
            "--reason",
            "customer asked",
            "--json",
            env=stack.admin_env(),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outcome = json.loads(done.stdout)
        # Then Stripe was asked once, with an idempotency key, and the balance has not moved
        [asked] = [r for r in fake.requests if "create_refund" in r]
        assert asked["create_refund"]["payment_intent"] == PAYMENT
        assert asked["create_refund"]["amount"] == "1000"
        assert asked["create_refund"]["metadata[reason]"] == "customer asked"
        assert asked["idempotency_key"] == outcome["idempotency_key"]
        assert asked["idempotency_key"].startswith("hero-refund-")
        assert outcome["refund_status"] == "succeeded" and outcome["amount_cents"] == 1000
        assert balance() == 3000
        # When Stripe's webhook follows, delivered twice
        fake.webhook_url, fake.webhook_secret, fake.deliveries = (
            url + "/webhooks/stripe",
            STRIPE_SECRET,
            2,
        )
        fake.send_refunded(PAYMENT)
        assert fake.webhook_statuses == [200, 200]
        worker.wait_lines(*processed("apply_refund"), count=2)
        # Then the balance is debited once
        refunds = LedgerEntry.select().where(LedgerEntry.kind == "refund")
        assert [int(e.amount_cents) for e in refunds] == [-1000]
        assert balance() == 2000
        audit = AdminAudit.get(AdminAudit.action == "payment_refund")
        assert audit.outcome == "applied"


def test_stripe_sends_the_webhook_itself_and_a_second_refund_is_bounded(stack: Stack) -> None:
    with fake_stripe("sk_test_integration") as fake:
        url, worker = paid_through(stack, fake)
        fake.webhook_url, fake.webhook_secret = url + "/webhooks/stripe", STRIPE_SECRET
        first = hero_admin(
            "payments",
            "refund",
            PAYMENT,
            "--amount",
            "2500",
            "--reason",
            "a",
            env=stack.admin_env(),
        )
        assert first.returncode == 0, first.stdout + first.stderr
        wait_until(lambda: balance() == 500, what="the refund debited")
        # A refund of more than what remains is refused before Stripe is asked
        second = hero_admin(
            "payments", "refund", PAYMENT, "--amount", "501", "--reason", "b", env=stack.admin_env()
        )
        assert second.returncode == 1 and "not between 1 and the 500 cents" in second.stdout
        assert len([r for r in fake.requests if "create_refund" in r]) == 1
