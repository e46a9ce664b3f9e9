"""The Stripe event parser: both refund shapes, failed refunds, bounded amounts, and any JSON
answered with a clean rejection or a valid fact."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from adapters.payments import Fact, WebhookRejected
from adapters.payments.stripe_parse import event_facts
from adapters.payments.stripe_provider import (
    StripeProvider,
    parse_stripe_webhook,
    sign_stripe_payload,
)
from messages import Message
from messages.facts import message_for
from models.money import MAX_PAYMENT_CENTS
from tests.support.fake_stripe import fake_stripe
from tests.support.message_contract import check_message
from tests.support.stripe_events import (
    ADDRESS,
    JSON,
    charge_refunded,
    checkout_completed,
    near_events,
    refund_failed,
    refund_object,
)

SECRET = "whsec_unit"


def only(facts: list[Fact]) -> Message:
    """The message the one fact means, checked against its actor's signature."""
    assert len(facts) == 1
    return check_message(message_for(facts[0]))


def test_current_shape_refund_carries_only_the_cumulative_amount() -> None:
    event = charge_refunded(payment_intent="pi_a", amount_refunded_cents=700, amount_cents=3000)
    assert "refunds" not in event["data"]["object"]
    message = only(event_facts(event))
    assert message.actor == "apply_refund"
    assert message.kwargs["amount_refunded_cents"] == 700
    assert message.kwargs["refunds"] is None
    assert message.kwargs["payment_key"] == "pi_a"


def test_older_shape_refund_carries_each_refund_with_its_status() -> None:
    event = charge_refunded(
        payment_intent="pi_a",
        amount_refunded_cents=700,
        amount_cents=3000,
        refunds=[("re_2", 200, "failed"), ("re_1", 500)],
    )
    assert only(event_facts(event)).kwargs["refunds"] == [
        {"id": "re_2", "amount_cents": 200, "status": "failed"},
        {"id": "re_1", "amount_cents": 500, "status": "succeeded"},
    ]


def test_a_cut_short_list_is_completed_through_the_lister() -> None:
    event = charge_refunded(
        payment_intent="pi_a", amount_refunded_cents=900, refunds=[("re_3", 300)], has_more=True
    )
    rest = [refund_object(f"re_{i}", 300, "pi_a") for i in (3, 2, 1)]
    message = only(event_facts(event, list_refunds=lambda charge: rest))
    assert [r["id"] for r in message.kwargs["refunds"]] == ["re_3", "re_2", "re_1"]


@pytest.mark.parametrize("lister", [None, lambda charge: None], ids=["no-lister", "unreachable"])
def test_a_cut_short_list_that_cannot_be_completed_falls_back_to_the_cumulative(lister) -> None:
    event = charge_refunded(
        payment_intent="pi_a", amount_refunded_cents=900, refunds=[("re_3", 300)], has_more=True
    )
    message = only(event_facts(event, list_refunds=lister))
    assert message.kwargs["refunds"] is None
    assert message.kwargs["amount_refunded_cents"] == 900


@pytest.mark.parametrize("event_type", ["refund.failed", "charge.refund.updated", "refund.updated"])
def test_a_failed_refund_becomes_a_credit_back(event_type: str) -> None:
    event = refund_failed(
        refund_id="re_1", payment_intent="pi_a", amount_cents=500, event_type=event_type
    )
    message = only(event_facts(event))
    assert message.actor == "credit_failed_refund"
    assert message.kwargs | {"failed_at": 0} == {
        "provider": "stripe",
        "payment_key": "pi_a",
        "refund_id": "re_1",
        "amount_cents": 500,
        "failed_at": 0,
        "event_id": event["id"],
    }


def test_a_refund_update_that_is_not_a_failure_is_ignored() -> None:
    event = refund_failed(refund_id="re_1", payment_intent="pi_a", amount_cents=500)
    event["type"] = "charge.refund.updated"
    event["data"]["object"]["status"] = "succeeded"
    assert event_facts(event) == []


@pytest.mark.parametrize(
    "amount", [10.99, True, "1099", 2**63, 0, -5, MAX_PAYMENT_CENTS + 1, None, [1]]
)
def test_a_checkout_amount_that_is_not_whole_bounded_cents_is_refused(amount: Any) -> None:
    event = checkout_completed(address=ADDRESS, amount_cents=amount)
    with pytest.raises(WebhookRejected, match=r"data\.object\.amount_total"):
        event_facts(event)


def test_the_largest_payment_is_accepted() -> None:
    event = checkout_completed(address=ADDRESS, amount_cents=MAX_PAYMENT_CENTS)
    assert only(event_facts(event)).kwargs["amount_cents"] == MAX_PAYMENT_CENTS


@pytest.mark.parametrize("amount", [-100, 0, 1.5, False, "100", 2**63])
def test_a_listed_refund_with_a_bad_amount_is_refused(amount: Any) -> None:
    event = charge_refunded(
        payment_intent="pi_a", amount_refunded_cents=100, refunds=[("re_1", amount)]
    )
    with pytest.raises(WebhookRejected, match=r"refunds\.data\[0\]\.amount"):
        event_facts(event)


@pytest.mark.parametrize("amount", [-1, 2.5, True, "7", 2**63])
def test_a_cumulative_refund_that_is_not_bounded_cents_is_refused(amount: Any) -> None:
    event = charge_refunded(payment_intent="pi_a", amount_refunded_cents=amount, amount_cents=10)
    with pytest.raises(WebhookRejected, match="amount_refunded"):
        event_facts(event)


def test_a_signed_body_that_is_not_json_is_refused_naming_the_body() -> None:
    body = b"{not json"
    headers = {"stripe-signature": sign_stripe_payload(body, SECRET, int(time.time()))}
    with pytest.raises(WebhookRejected, match="body: not JSON"):
        parse_stripe_webhook(body, headers, secret=SECRET, now=time.time())


def _check(event: Any) -> None:
    try:
        messages = [message_for(f) for f in event_facts(event, list_refunds=lambda c: None)]
    except WebhookRejected as exc:
        assert str(exc)
        return
    for message in messages:
        for key, value in message.kwargs.items():
            if key.endswith("_cents"):
                assert type(value) is int and 0 <= value <= MAX_PAYMENT_CENTS
        for refund in message.kwargs.get("refunds") or []:
            assert type(refund["amount_cents"]) is int and refund["amount_cents"] >= 1


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_is_a_clean_rejection_or_valid_facts(event: Any) -> None:
    _check(event)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(near_events())
def test_any_near_miss_of_a_real_event_is_a_clean_rejection_or_valid_facts(event: Any) -> None:
    _check(event)


def test_the_provider_follows_refund_pages_from_stripe() -> None:
    with fake_stripe("sk_test_unit") as fake:
        for i in range(150):
            fake.add_refund("pi_many", f"re_{i:03d}", 100)
        provider = StripeProvider(
            secret_key="sk_test_unit", webhook_secret=SECRET, api_base=fake.url
        )
        refunds = provider.list_refunds("ch_many")
    assert refunds is not None and len(refunds) == 150
    assert refunds[0]["id"] == "re_149" and refunds[-1]["id"] == "re_000"
    assert len([r for r in fake.requests if "list_refunds" in r]) == 2


def test_the_provider_says_none_when_stripe_cannot_list_refunds() -> None:
    with fake_stripe("sk_test_unit") as fake:
        fake.failing = True
        provider = StripeProvider(
            secret_key="sk_test_unit", webhook_secret=SECRET, api_base=fake.url
        )
        assert provider.list_refunds("ch_any") is None
