"""Payment emails carry the receipt: number, date, amount, provider and method, reference,
balance after, and the link to the receipt page and its PDF."""

from __future__ import annotations

import json
from pathlib import Path

import falcon.testing
import pytest

from actors.notify import render, send_pending
from actors.payments import PaymentFact, credit_payment
from adapters.email import FolderSender
from models import Notification, PaymentEvent
from tests.support.deps import DepsSwitch
from tests.support.login import ALICE_ADDRESS
from tests.support.web import HTML, PUBLIC_URL, Clock, Sent, account_of, logged_in, make_app

PAID_AT = 1_790_000_000  # 21 Sep 2026, 14:13:20 UTC


def fact(
    provider: str = "stripe", key: str = "pi_3Qreceipt", topup: str | None = "t_abc"
) -> PaymentFact:
    return PaymentFact(
        provider=provider,
        payment_key=key,
        address=ALICE_ADDRESS,
        amount_cents=2500,
        currency="usd",
        paid_at=PAID_AT,
        topup_id=topup,
    )


@pytest.fixture
def public_url(deps: DepsSwitch) -> object:
    deps.set(public_url=PUBLIC_URL + "/")
    return PUBLIC_URL


def test_the_payment_email_carries_the_receipt_and_its_link(
    sqlite_db: str, tmp_path: Path, public_url: str
) -> None:
    account = account_of()
    account.email = "ada@example.org"
    account.email_verified_at = account.created_at
    account.save()
    assert credit_payment(fact()) == "credited"
    payment_id = PaymentEvent.get().id

    send_pending(FolderSender(folder=str(tmp_path / "outbox"), sender="billing@hero.test"))

    [mail] = (tmp_path / "outbox").iterdir()
    text = mail.read_text()
    for said in (
        f"Receipt HR-{payment_id:06d}",
        "Date: 21 Sep 2026, 14:13 UTC",
        "Amount: $25.00 USD",
        "Paid with: Stripe (card)",
        "Reference: pi_3Qreceipt",
        "Top-up: t_abc",
        "Balance after: $25.00",
        f"{public_url}/payments/{payment_id}/receipt\n",
        f"{public_url}/payments/{payment_id}/receipt.pdf",
    ):
        assert said in text, said


def test_the_link_in_the_email_opens_that_receipt_for_its_owner(sqlite_db: str) -> None:
    client = falcon.testing.TestClient(make_app(Clock(), Sent()))
    alice = logged_in(client)
    credit_payment(fact())
    payload = json.loads(Notification.get(Notification.kind == "payment_credited").payload)
    _, text = render("payment_credited", payload)
    path = text.split("View or print your receipt: ")[1].split()[0].split("8080", 1)[1]
    page = alice.get(path, headers=HTML)
    assert page.status_code == 200 and "$25.00" in page.text and "pi_3Qreceipt" in page.text


def test_sandbox_money_reads_as_sandbox_money_in_the_email(sqlite_db: str) -> None:
    account_of()
    credit_payment(fact(provider="sandbox", key="pi_sandbox_t1", topup=None))
    payload = json.loads(Notification.get().payload)
    _, text = render("payment_credited", payload)
    assert "Paid with: Sandbox (no real money) (sandbox checkout)" in text
    assert "Stripe" not in text and "card" not in text and "Top-up:" not in text


@pytest.mark.parametrize("payment_id", [None, 0, -3, "7", True])
def test_a_payload_without_a_usable_payment_id_is_emailed_without_a_receipt(payment_id) -> None:
    payload = {"amount_cents": 2500, "balance_after_cents": 2500, "payment_id": payment_id}
    _, text = render("payment_credited", payload)
    assert text == "We received your payment of $25.00. Your balance is now $25.00."
