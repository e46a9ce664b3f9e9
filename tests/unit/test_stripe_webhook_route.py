"""``POST /webhooks/stripe`` with any signed JSON: 200 with valid messages, or a 400 naming
what is wrong; never a 500, and nothing queued from a refused body."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import falcon
import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings

import models
from adapters.payments.stripe_provider import StripeProvider, sign_stripe_payload
from models.money import MAX_PAYMENT_CENTS
from tests.support.message_contract import check_message
from tests.support.stripe_events import JSON, checkout_completed, near_events, signed
from tests.support.web import make_app

SECRET = "whsec_route"
ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.fixture(scope="module")
def route() -> Iterator[tuple[falcon.testing.TestClient, list[tuple[str, dict[str, Any]]]]]:
    with tempfile.TemporaryDirectory() as folder:
        database = models.init_database(f"sqlite:///{folder}/hero.db")
        models.migrate()
        calls: list[tuple[str, dict[str, Any]]] = []
        stripe = StripeProvider(
            secret_key="sk_test_route", webhook_secret=SECRET, api_base="http://127.0.0.1:9"
        )
        app = make_app(
            send=lambda m: calls.append((check_message(m).actor, m.kwargs)),
            providers={},
            webhook_providers={"stripe": stripe},
        )
        yield falcon.testing.TestClient(app), calls
        database.close()


def _post(route: Any, event: Any) -> None:
    client, calls = route
    calls.clear()
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_stripe_payload(body, SECRET, int(time.time())),
    }
    result = client.simulate_post("/webhooks/stripe", body=body, headers=headers)
    if result.status_code == 400:
        assert result.json["description"] and not calls
        return
    assert result.status_code == 200, result.text
    for _, kwargs in calls:
        for key, value in kwargs.items():
            if key.endswith("_cents"):
                assert type(value) is int and 0 <= value <= MAX_PAYMENT_CENTS


@settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
@given(JSON)
def test_any_signed_json_gets_200_or_a_400(route: Any, event: Any) -> None:
    _post(route, event)


@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(near_events())
def test_any_near_miss_of_a_real_event_gets_200_or_a_400(route: Any, event: Any) -> None:
    _post(route, event)


@pytest.mark.parametrize("amount", [10.99, True, 2**63])
def test_a_bad_amount_total_is_a_400_naming_the_field(route: Any, amount: Any) -> None:
    client, calls = route
    calls.clear()
    body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=amount), SECRET)
    result = client.simulate_post("/webhooks/stripe", body=body, headers=headers)
    assert result.status_code == 400
    assert result.json["description"].startswith("data.object.amount_total")
    assert calls == []
