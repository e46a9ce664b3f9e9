"""POST /topup with Stripe: a Checkout Session through the stripe library, then 303 to it;
credit comes only from the webhook."""

from __future__ import annotations

import requests

from models import TopUp
from tests.support.fake_stripe import fake_stripe
from tests.support.login import login
from tests.support.procs import wait_until
from tests.support.stack import (
    ADDRESS,
    PROCESSED,
    STRIPE_SECRET,
    Stack,
    balance,
    make_account,
    post,
)
from tests.support.stripe_events import checkout_completed, signed


def test_topup_creates_a_checkout_session_and_only_the_webhook_credits(stack: Stack) -> None:
    make_account()
    with fake_stripe("sk_test_integration") as stripe_api:
        url = stack.gateway(HERO_STRIPE_API_BASE=stripe_api.url)
        worker = stack.worker()
        browser = requests.Session()
        user = login(browser, url)

        started = browser.post(
            f"{url}/topup",
            data={"amount": "12.50", "provider": "stripe", "csrf_token": user.csrf_token},
            allow_redirects=False,
            timeout=30,
        )

        assert started.status_code == 303, started.text
        assert started.headers["Location"].startswith("https://checkout.stripe.test/c/pay/cs_")
        [call] = stripe_api.requests
        form = call["form"]
        assert call["idempotency_key"].startswith("topup-HERO")
        assert form["mode"] == "payment" and form["client_reference_id"] == ADDRESS
        assert form["line_items[0][price_data][unit_amount]"] == "1250"
        assert form["line_items[0][price_data][currency]"] == "usd"
        topup_id = form["metadata[topup_id]"]
        topup = wait_until(
            lambda: TopUp.get_or_none(TopUp.public_id == topup_id), what="the top-up to be recorded"
        )
        assert topup.status == "started" and balance() == 0

        event = checkout_completed(address=ADDRESS, amount_cents=1250, topup_id=topup_id)
        assert post(url, *signed(event, STRIPE_SECRET)).status_code == 200
        worker.wait_lines(*PROCESSED, count=1)
        assert balance() == 1250
        assert TopUp.get(TopUp.public_id == topup_id).status == "paid"
        status = browser.get(
            f"{url}/topups/{topup_id}", headers={"Accept": "application/json"}, timeout=10
        ).json()
        assert status == {
            "topup_id": topup_id,
            "status": "paid",
            "amount_cents": 1250,
            "balance_cents": 1250,
        }


def test_topup_when_stripe_refuses_shows_the_reason_and_charges_nothing(stack: Stack) -> None:
    make_account()
    with fake_stripe("sk_live_someone_else") as stripe_api:
        url = stack.gateway(HERO_STRIPE_API_BASE=stripe_api.url)
        browser = requests.Session()
        user = login(browser, url)
        answer = browser.post(
            f"{url}/topup",
            data={"amount": "5", "provider": "stripe", "csrf_token": user.csrf_token},
            headers={"Accept": "text/html"},
            allow_redirects=False,
            timeout=30,
        )
    assert answer.status_code == 502
    assert "Invalid API Key" in answer.text and "<html" in answer.text
    assert balance() == 0
