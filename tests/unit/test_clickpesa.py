"""ClickPesa: checksums, webhook verification, the payment decision, the client, the actor."""

from __future__ import annotations

import doctest
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import dramatiq
import pytest

import actors.clickpesa
import actors.clickpesa_budget
import actors.clickpesa_reconcile
import adapters.payments.clickpesa
import adapters.payments.clickpesa_json
import adapters.payments.clickpesa_webhook
from actors.clickpesa import (
    Credit,
    Failed,
    Wait,
    confirm_clickpesa_payment,
    decide,
    should_wait_for_topup,
)
from actors.payments import PermanentPaymentError
from adapters.payments import WebhookRejected
from adapters.payments.clickpesa import (
    TOKEN_TTL_S,
    ClickPesaProvider,
    clickpesa_checksum,
    parse_clickpesa_webhook,
)
from messages import ConfirmClickpesaPayment, Message
from messages.facts import message_for
from models import Account, Billing, PaymentEvent, TopUp, UnmatchedItem
from models.errors import PaymentError, ProviderUnavailable
from tests.support.deps import DepsSwitch
from tests.support.fake_clickpesa import FakeClickPesa, signed_webhook

KEY = "secret"
ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.mark.parametrize(
    "module",
    [
        adapters.payments.clickpesa,
        adapters.payments.clickpesa_json,
        adapters.payments.clickpesa_webhook,
        actors.clickpesa,
        actors.clickpesa_budget,
        actors.clickpesa_reconcile,
    ],
)
def test_doctests_of_the_money_and_checksum_helpers_pass(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


class TestChecksum:
    """The checksum is HMAC-SHA256 hex over canonical JSON, as ClickPesa documents."""

    def test_nested_keys_are_sorted_at_every_level(self) -> None:
        payload = {"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": "x"}}
        # HMAC-SHA256("secret", '{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}')
        assert clickpesa_checksum(payload, KEY) == (
            "bf1f2e9496905f8b144a52ea56e8fba7dbcc00bc79fb5cec6ad6d20cd533926d"
        )

    def test_non_ascii_is_signed_as_raw_utf8(self) -> None:
        payload = {"orderReference": "HERO1", "customerName": "Zoë Mwanaidi"}
        # HMAC-SHA256("secret", '{"customerName":"Zoë Mwanaidi","orderReference":"HERO1"}')
        assert clickpesa_checksum(payload, KEY) == (
            "b843217f72134c2abf6c15d1a775dd26991e1e5df172f954c7449784f4994134"
        )

    def test_checksum_fields_are_excluded(self) -> None:
        payload = {"orderReference": "HERO1", "totalPrice": "1.00"}
        signed = {**payload, "checksum": "ab" * 32, "checksumMethod": "canonical"}
        assert clickpesa_checksum(signed, KEY) == clickpesa_checksum(payload, KEY)

    def test_key_matters(self) -> None:
        payload = {"orderReference": "HERO1"}
        assert clickpesa_checksum(payload, KEY) != clickpesa_checksum(payload, "other")


DATA = {
    "id": "HERO1LCP1",
    "status": "SUCCESS",
    "orderReference": "HERO1",
    "collectedAmount": "25.00",
    "collectedCurrency": "USD",
    "customer": {"customerName": "Zoë"},
}


def parse(body: bytes, headers: dict[str, str]) -> list[Message]:
    return [
        message_for(fact)
        for fact in parse_clickpesa_webhook(
            body, {k.lower(): v for k, v in headers.items()}, checksum_key=KEY
        )
    ]


class TestParseWebhook:
    """A webhook is accepted only with a matching checksum, and only names the order."""

    @pytest.mark.parametrize("event", ["PAYMENT RECEIVED", "PAYMENT FAILED"])
    def test_payment_events_ask_for_a_confirmation(self, event: str) -> None:
        assert parse(*signed_webhook(event, DATA, KEY)) == [
            ConfirmClickpesaPayment(order_reference="HERO1", webhook_event=event)
        ]

    @pytest.mark.parametrize("header", ["X-ClickPesa-Signature", "x-clickpesa-checksum"])
    def test_checksum_may_come_in_a_header(self, header: str) -> None:
        body, headers = signed_webhook("PAYMENT RECEIVED", DATA, KEY, in_header=True)
        headers = {header: headers.pop("X-ClickPesa-Signature")}
        assert len(parse(body, headers)) == 1

    def test_checksum_method_field_is_not_signed(self) -> None:
        assert (
            len(parse(*signed_webhook("PAYMENT RECEIVED", DATA, KEY, checksum_method="canonical")))
            == 1
        )

    def test_other_events_mean_nothing(self) -> None:
        assert parse(*signed_webhook("PAYOUT INITIATED", {"id": "x"}, KEY)) == []

    def test_missing_checksum_is_rejected(self) -> None:
        body = json.dumps({"event": "PAYMENT RECEIVED", "data": DATA}).encode()
        with pytest.raises(WebhookRejected, match=r"^checksum: missing"):
            parse(body, {})

    def test_wrong_key_is_rejected(self) -> None:
        with pytest.raises(WebhookRejected, match=r"^checksum: does not match"):
            parse(*signed_webhook("PAYMENT RECEIVED", DATA, "not-the-key"))

    def test_tampered_body_is_rejected(self) -> None:
        body, headers = signed_webhook("PAYMENT RECEIVED", DATA, KEY)
        tampered = body.replace(b'"25.00"', b'"2500.00"')
        with pytest.raises(WebhookRejected, match=r"^checksum:"):
            parse(tampered, headers)

    @pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
    def test_a_body_that_is_no_json_object_is_rejected(self, body: bytes) -> None:
        with pytest.raises(WebhookRejected, match=r"^body:"):
            parse(body, {})

    @pytest.mark.parametrize("data", [{"id": "x"}, {"orderReference": ""}, None])
    def test_a_signed_payment_event_without_order_reference_is_rejected(
        self, data: dict[str, Any] | None
    ) -> None:
        with pytest.raises(WebhookRejected, match=r"^data\.orderReference: missing"):
            parse(*signed_webhook("PAYMENT RECEIVED", data, KEY))


def record(status: str, **extra: str) -> dict[str, str]:
    return {
        "id": f"P{status}",
        "status": status,
        "collectedAmount": "25.00",
        "collectedCurrency": "USD",
        "createdAt": "2026-01-02T03:04:05.000Z",
        **extra,
    }


class TestDecide:
    """Only ClickPesa's own record of a collected payment credits, in exact cents."""

    @pytest.mark.parametrize("status", ["SUCCESS", "SETTLED"])
    def test_collected_payments_are_credited(self, status: str) -> None:
        assert decide([record(status)]) == Credit(
            amount_cents=2500, currency="USD", paid_at=1_767_323_045, payment_id=f"P{status}"
        )

    def test_a_success_wins_over_earlier_failed_attempts(self) -> None:
        decision = decide([record("FAILED"), record("SUCCESS", collectedAmount="0.10")])
        assert isinstance(decision, Credit) and decision.amount_cents == 10

    def test_only_failed_attempts_mean_failed(self) -> None:
        assert isinstance(decide([record("FAILED"), record("FAILED")]), Failed)

    @pytest.mark.parametrize(
        "statuses", [[], ["PROCESSING"], ["PENDING"], ["FAILED", "PENDING"], ["REVERSED"]]
    )
    def test_anything_else_waits(self, statuses: list[str]) -> None:
        assert isinstance(decide([record(s) for s in statuses]), Wait)

    def test_the_earliest_of_several_collected_payments_is_credited(self) -> None:
        late = record("SUCCESS", id="B", createdAt="2026-01-02T05:00:00Z")
        early = record("SETTLED", id="A", createdAt="2026-01-02T04:00:00Z")
        decision = decide([late, early])
        assert isinstance(decision, Credit)
        assert (decision.payment_id, decision.extra_payment_ids) == ("A", ("B",))

    def test_a_time_without_zone_is_utc(self) -> None:
        decision = decide([record("SUCCESS", createdAt="2026-01-02T03:04:05")])
        assert isinstance(decision, Credit) and decision.paid_at == 1_767_323_045

    @pytest.mark.parametrize(
        "bad",
        [
            {"collectedAmount": "25.005"},
            {"collectedAmount": "abc"},
            {"collectedAmount": 25.0},
            {"createdAt": "yesterday"},
            {"collectedCurrency": ""},
        ],
    )
    def test_an_unusable_collected_record_is_permanent(self, bad: dict[str, object]) -> None:
        with pytest.raises(PermanentPaymentError):
            decide([{**record("SUCCESS"), **bad}])

    def test_a_missing_topup_is_waited_for_five_minutes(self) -> None:
        assert should_wait_for_topup(paid_at=1_000, now_s=1_299.9)
        assert not should_wait_for_topup(paid_at=1_000, now_s=1_300)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeClickPesa]:
    with FakeClickPesa() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider(fake: FakeClickPesa, clock: FakeClock) -> ClickPesaProvider:
    return ClickPesaProvider(
        client_id=fake.client_id,
        api_key=fake.api_key,
        checksum_key=fake.checksum_key,
        api_base=fake.api_base,
        clock=clock,
    )


class TestProvider:
    """The client speaks ClickPesa's API: tokens, checkout links, payment queries."""

    def test_checkout_link_is_signed_and_in_usd(
        self, provider: ClickPesaProvider, fake: FakeClickPesa
    ) -> None:
        checkout = provider.start_checkout(
            topup_id="HERO1ABC", address=ADDRESS, amount_cents=1234, return_url="r", cancel_url="c"
        )
        assert checkout.redirect_url == f"{fake.url}/checkout/HERO1ABC"
        assert checkout.provider_ref == "HERO1ABC"
        order = fake.orders["HERO1ABC"]
        assert (order["orderCurrency"], order["totalPrice"]) == ("USD", "12.34")

    def test_token_is_reused_for_55_minutes(
        self, provider: ClickPesaProvider, fake: FakeClickPesa, clock: FakeClock
    ) -> None:
        provider.query_payment("HERO1")
        clock.now += TOKEN_TTL_S - 1
        provider.query_payment("HERO1")
        assert fake.calls["POST /generate-token"] == 1
        clock.now += 1
        provider.query_payment("HERO1")
        assert fake.calls["POST /generate-token"] == 2

    def test_a_refused_token_is_replaced_once(
        self, provider: ClickPesaProvider, fake: FakeClickPesa
    ) -> None:
        provider.query_payment("HERO1")
        fake.revoke_tokens()
        fake.set_payment("HERO1", status="PROCESSING")
        assert [p["status"] for p in provider.query_payment("HERO1")] == ["PROCESSING"]
        assert fake.calls["POST /generate-token"] == 2

    def test_query_returns_every_record_and_nothing_for_unknown(
        self, provider: ClickPesaProvider, fake: FakeClickPesa
    ) -> None:
        fake.set_payment("HERO1", status="FAILED")
        fake.set_payment("HERO1", status="SUCCESS", amount="25.00", append=True)
        assert [p["status"] for p in provider.query_payment("HERO1")] == ["FAILED", "SUCCESS"]
        assert provider.query_payment("HERO2") == []

    def test_bad_credentials_are_a_payment_error(
        self, fake: FakeClickPesa, clock: FakeClock
    ) -> None:
        wrong = ClickPesaProvider(
            client_id="x",
            api_key="y",
            checksum_key=fake.checksum_key,
            api_base=fake.api_base,
            clock=clock,
        )
        with pytest.raises(PaymentError, match="Invalid client-id") as caught:
            wrong.query_payment("HERO1")
        assert not isinstance(caught.value, ProviderUnavailable)

    def test_a_refused_checkout_carries_the_providers_message(
        self, provider: ClickPesaProvider, fake: FakeClickPesa
    ) -> None:
        with pytest.raises(PaymentError, match="letters and digits only"):
            provider.start_checkout(
                topup_id="HERO-1", address=ADDRESS, amount_cents=100, return_url="r", cancel_url="c"
            )

    def test_a_wrong_checksum_key_is_refused(self, fake: FakeClickPesa, clock: FakeClock) -> None:
        wrong = ClickPesaProvider(
            client_id=fake.client_id,
            api_key=fake.api_key,
            checksum_key="wrong",
            api_base=fake.api_base,
            clock=clock,
        )
        with pytest.raises(PaymentError, match="Invalid checksum"):
            wrong.start_checkout(
                topup_id="HERO1", address=ADDRESS, amount_cents=100, return_url="r", cancel_url="c"
            )

    def test_a_down_provider_is_unavailable(
        self, provider: ClickPesaProvider, fake: FakeClickPesa
    ) -> None:
        fake.down = True
        with pytest.raises(ProviderUnavailable, match="503"):
            provider.query_payment("HERO1")

    def test_an_unreachable_provider_is_unavailable(
        self, fake: FakeClickPesa, clock: FakeClock
    ) -> None:
        fake.stop()
        gone = ClickPesaProvider(
            client_id="a", api_key="b", checksum_key="c", api_base=fake.api_base, clock=clock
        )
        with pytest.raises(ProviderUnavailable, match="could not be reached"):
            gone.query_payment("HERO1")


@pytest.fixture
def configured(provider: ClickPesaProvider, sqlite_db: str, deps: DepsSwitch) -> FakeClock:
    wall = FakeClock()
    wall.now = 1_767_323_045.0
    deps.set(clickpesa=provider, clock=wall)
    return wall


@pytest.fixture
def topup(configured: FakeClock) -> TopUp:
    account = Account.create(address=ADDRESS)
    return TopUp.create(public_id="HERO1", account=account, provider="clickpesa", amount_cents=2500)


SUCCESS_AT = "2026-01-02T03:04:05Z"


class TestConfirmActor:
    """The actor credits only what the re-query says was collected, once."""

    def test_success_is_credited_once(self, fake: FakeClickPesa, topup: TopUp) -> None:
        fake.set_payment("HERO1", status="SUCCESS", amount="25.00", created_at=SUCCESS_AT)
        assert confirm_clickpesa_payment("HERO1", "PAYMENT RECEIVED") == "credited"
        assert confirm_clickpesa_payment("HERO1", "PAYMENT RECEIVED") == "duplicate"
        assert Billing.get().balance_cents == 2500
        assert TopUp.get().status == "paid"

    def test_failed_marks_the_topup_failed_and_credits_nothing(
        self, fake: FakeClickPesa, topup: TopUp
    ) -> None:
        fake.set_payment("HERO1", status="FAILED")
        assert confirm_clickpesa_payment("HERO1", "PAYMENT RECEIVED") == "failed"
        assert TopUp.get().status == "failed"
        assert PaymentEvent.select().count() == 0

    def test_processing_is_retried(self, fake: FakeClickPesa, topup: TopUp) -> None:
        fake.set_payment("HERO1", status="PROCESSING")
        with pytest.raises(dramatiq.Retry):
            confirm_clickpesa_payment("HERO1", "PAYMENT RECEIVED")
        assert PaymentEvent.select().count() == 0

    def test_a_missing_topup_is_waited_for_then_parked(
        self, fake: FakeClickPesa, configured: FakeClock
    ) -> None:
        fake.set_payment("HERO9", status="SUCCESS", created_at=SUCCESS_AT)
        with pytest.raises(dramatiq.Retry, match="not recorded yet"):
            confirm_clickpesa_payment("HERO9", "PAYMENT RECEIVED")
        configured.now += 300
        assert confirm_clickpesa_payment("HERO9", "PAYMENT RECEIVED") == "unmatched"
        assert UnmatchedItem.get().ref == "clickpesa:HERO9"

    def test_an_unreachable_provider_raises_for_a_retry(
        self, fake: FakeClickPesa, topup: TopUp
    ) -> None:
        fake.down = True
        with pytest.raises(ProviderUnavailable):
            confirm_clickpesa_payment("HERO1", "PAYMENT RECEIVED")
