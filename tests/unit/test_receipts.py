"""Receipts through the gateway: the page, the PDF (read back with pypdf), the payments list."""

from __future__ import annotations

import io

import falcon.testing
import pytest
from pypdf import PdfReader

from actors.payments import PaymentFact, credit_payment
from messages.facts import message_for
from models import PaymentEvent
from tests.support.login import ALICE_ADDRESS
from tests.support.receipts import PAID_AT, pay
from tests.support.web import HTML, Clock, Sent, account_of, entry, logged_in, make_app


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_a_receipt_shows_reference_provider_method_date_amount_and_balance(client) -> None:
    alice = logged_in(client)
    entry(account_of(), 300, ref="adj:before", details={"reason": "welcome"})
    payment_id = pay(2500)
    page = alice.get(f"/payments/{payment_id}/receipt", headers=HTML)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    for text in (
        f"HR-{payment_id:06d}",
        "pi_3Qabc",
        "t_7f3a",
        "Stripe, card",
        "20 Nov 2026, 08:05 UTC",
        "$25.00 USD",
        "$28.00",
    ):
        assert text in page.text, text
    assert f'href="/payments/{payment_id}/receipt.pdf"' in page.text
    assert alice.get(f"/payments/{payment_id}/receipt").json == {
        "number": f"HR-{payment_id:06d}",
        "provider": "stripe",
        "provider_label": "Stripe",
        "method": "card",
        "reference": "pi_3Qabc",
        "topup_reference": "t_7f3a",
        "paid_at": "2026-11-20T08:05:00Z",
        "amount_cents": 2500,
        "currency": "usd",
        "balance_after_cents": 2800,
    }


def test_the_receipt_pdf_holds_the_same_facts(client) -> None:
    alice = logged_in(client)
    payment_id = pay(1234, provider="clickpesa", key="HERO123ABC", topup_id=None)
    answer = alice.get(f"/payments/{payment_id}/receipt.pdf")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert f"hero-receipt-HR-{payment_id:06d}.pdf" in answer.headers["Content-Disposition"]
    assert answer.headers["Cache-Control"] == "no-store"
    text = pdf_text(answer.content)
    for fact in (
        f"HR-{payment_id:06d}",
        "$12.34 USD",
        "ClickPesa, mobile money",
        "HERO123ABC",
        ALICE_ADDRESS,
        "20 Nov 2026, 08:05 UTC",
    ):
        assert fact in text, fact
    assert "Top-up reference" not in text


def test_a_sandbox_receipt_says_no_real_money_never_card(client) -> None:
    alice = logged_in(client)
    legacy = pay(500, provider="stripe", key="pi_sandbox_t1", topup_id="t1")
    own = pay(700, provider="sandbox", key="pi_sandbox_t2", topup_id="t2")
    for payment_id in (legacy, own):
        page = alice.get(f"/payments/{payment_id}/receipt", headers=HTML).text
        assert "Sandbox (no real money)" in page and "Stripe" not in page
        assert "card" not in page.split('id="receipt"')[1].split("</dl>")[0]
        assert "no real money" in pdf_text(alice.get(f"/payments/{payment_id}/receipt.pdf").content)
    listing = alice.get("/payments", headers=HTML).text
    assert listing.count("Sandbox (no real money)") == 2 and "Stripe" not in listing


def test_the_payments_list_links_each_credited_payment_to_its_receipt(client) -> None:
    alice = logged_in(client)
    payment_id = pay(2500)
    assert f'href="/payments/{payment_id}/receipt"' in alice.get("/payments", headers=HTML).text


@pytest.mark.parametrize("suffix", ["receipt", "receipt.pdf"])
def test_a_receipt_that_does_not_exist_is_a_404(client, suffix: str) -> None:
    alice = logged_in(client)
    for payment_id in ("999", "0", "-1", "abc", "9" * 30):
        answer = alice.get(f"/payments/{payment_id}/{suffix}", headers=HTML)
        assert answer.status_code == 404, payment_id


def test_an_unmatched_payment_has_no_receipt(client) -> None:
    alice = logged_in(client)
    fact = PaymentFact(
        provider="stripe",
        payment_key="pi_lost",
        address="400::1",
        amount_cents=500,
        currency="usd",
        paid_at=PAID_AT,
    )
    assert credit_payment(fact) == "unmatched"
    lost = PaymentEvent.get(PaymentEvent.key == "pi_lost")
    assert alice.get(f"/payments/{lost.id}/receipt").status_code == 404


@pytest.mark.parametrize("suffix", ["receipt", "receipt.pdf"])
def test_receipts_send_visitors_to_the_login(client, suffix: str) -> None:
    page = client.simulate_get(f"/payments/1/{suffix}", headers=HTML)
    assert page.status_code == 303 and page.headers["Location"].startswith("/login?next=")


def test_sandbox_money_reads_as_sandbox_on_the_dashboard_and_statement(client) -> None:
    alice = logged_in(client)
    pay(500, provider="sandbox", key="pi_sandbox_t3", topup_id="t3")
    pay(600, provider="stripe", key="pi_sandbox_t4", topup_id="t4")
    for path in ("/", "/statement"):
        page = alice.get(path, headers=HTML).text
        assert page.count("Top-up by Sandbox (no real money)") == 2, path
        assert "by card" not in page


def test_the_sandbox_checkout_records_sandbox_money(sqlite_db: str) -> None:
    from adapters.payments.sandbox import SandboxProvider
    from tests.support.fake_post import FakePost

    posted = FakePost()
    sandbox = SandboxProvider(public_url="http://hero.test", webhook_secret="whsec_x", post=posted)
    sandbox.complete(topup_id="t9", address=ALICE_ADDRESS, amount_cents=900)
    call = posted.calls[0]
    assert call["url"] == "http://hero.test/webhooks/sandbox"
    headers = {k.lower(): v for k, v in call["headers"].items()}
    [fact] = sandbox.parse_webhook(call["data"], headers)
    message = message_for(fact)
    assert (message.actor, message.kwargs["provider"]) == ("apply_payment", "sandbox")
