"""ClickPesa webhooks as ClickPesa sends them: JavaScript checksums, eventType, amounts."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.payments import WebhookRejected
from adapters.payments.clickpesa_json import JsonNumber, clickpesa_checksum
from adapters.payments.clickpesa_webhook import BadAmount, collected_cents, parse_clickpesa_webhook
from messages import ConfirmClickpesaPayment, Message
from messages.facts import message_for
from models.money import MAX_PAYMENT_CENTS
from tests.support.fake_clickpesa import signed_webhook
from tests.support.js_checksum import VECTORS

KEY = "secret"
FIXTURE = json.loads(VECTORS.read_text(encoding="utf-8"))
BY_NAME = {v["name"]: v for v in FIXTURE["vectors"]}
DATA = {
    "id": "HERO1LCP1",
    "status": "SUCCESS",
    "orderReference": "HERO1",
    "collectedAmount": "25.00",
    "collectedCurrency": "USD",
}


def parse(body: bytes, headers: dict[str, str] | None = None, key: str = KEY) -> list[Message]:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return [message_for(f) for f in parse_clickpesa_webhook(body, lowered, checksum_key=key)]


def with_checksum(vector: dict[str, Any], checksum: str | None = None) -> bytes:
    """The vector's body text as written, with its JavaScript checksum added."""
    text = vector["body"].rstrip()[:-1]
    return (text + f', "checksum": "{checksum or vector["checksum"]}"}}').encode()


class TestJavaScriptSigned:
    """Bodies signed by ClickPesa's documented JavaScript verify, numbers as written."""

    def test_a_body_with_1000_00_in_it_verifies(self) -> None:
        body = with_checksum(BY_NAME["USD payment with JavaScript numbers"])
        assert b"1000.00" in body and b"0.10" in body
        assert parse(body, key=FIXTURE["key"]) == [
            ConfirmClickpesaPayment(order_reference="HERO7", webhook_event="PAYMENT RECEIVED")
        ]

    def test_the_same_body_signed_the_python_json_way_does_not(self) -> None:
        vector = BY_NAME["USD payment with JavaScript numbers"]
        payload = json.loads(vector["body"])
        # Our canonical form of the same values (even parsed by Python's json) agrees...
        assert clickpesa_checksum(payload, FIXTURE["key"]) == vector["checksum"]
        # ...while Python's json.dumps writes 1000.0, 0.1, 1e+21 and "10" before "2".
        naive = hmac.new(
            FIXTURE["key"].encode(),
            json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(),
            hashlib.sha256,
        ).hexdigest()
        with pytest.raises(WebhookRejected, match=r"^checksum: does not match"):
            parse(with_checksum(vector, naive), key=FIXTURE["key"])

    @pytest.mark.parametrize(
        ("old", "new"),
        [(b"1000.00", b"1000.01"), (b'"HERO7"', b'"HERO8"'), (b'"10": 1', b'"10": 2')],
    )
    def test_a_tampered_body_is_refused(self, old: bytes, new: bytes) -> None:
        body = with_checksum(BY_NAME["USD payment with JavaScript numbers"])
        with pytest.raises(WebhookRejected, match=r"^checksum:"):
            parse(body.replace(old, new), key=FIXTURE["key"])

    def test_a_number_written_differently_but_equal_still_verifies(self) -> None:
        body = with_checksum(BY_NAME["USD payment with JavaScript numbers"])
        assert len(parse(body.replace(b"0.10", b"1e-1"), key=FIXTURE["key"])) == 1


class TestEventType:
    """The documented PAYMENT FAILED sample names its event ``eventType``."""

    def test_the_documented_payment_failed_sample_asks_for_a_confirmation(self) -> None:
        body = with_checksum(BY_NAME["documented PAYMENT FAILED"])
        assert parse(body, key=FIXTURE["key"]) == [
            ConfirmClickpesaPayment(order_reference="0969231256", webhook_event="PAYMENT FAILED")
        ]

    def test_neither_name_is_refused(self) -> None:
        body = {"data": DATA}
        body["checksum"] = clickpesa_checksum(body, KEY)  # type: ignore[assignment]
        with pytest.raises(WebhookRejected, match=r"^event: missing"):
            parse(json.dumps(body).encode())


class TestAmounts:
    """Amounts are integers or decimals with at most 2 decimals, in bounds, in USD."""

    @pytest.mark.parametrize(
        ("value", "cents"),
        [
            ("25.00", 2500),
            ("0", 0),
            ("7", 700),
            ("0.5", 50),
            (JsonNumber("1000.00"), 100_000),
            (12, 1200),
            (str(MAX_PAYMENT_CENTS // 100), MAX_PAYMENT_CENTS),
        ],
    )
    def test_valid_amounts(self, value: object, cents: int) -> None:
        assert collected_cents(value) == cents

    @pytest.mark.parametrize(
        "value",
        [
            "25.001",
            "-1",
            "+1",
            "1e3",
            " 25",
            "25,00",
            "",
            "0x10",
            "١٢",
            None,
            True,
            25.0,
            JsonNumber("1e3"),
            JsonNumber("-5"),
            JsonNumber("0.125"),
            [],
            {},
            str(MAX_PAYMENT_CENTS // 100 + 1),
            "9" * 40,
        ],
    )
    def test_anything_else_is_refused_naming_the_field(self, value: object) -> None:
        with pytest.raises(BadAmount, match=r"^collectedAmount: "):
            collected_cents(value)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("collectedAmount", "25.005"),
            ("collectedAmount", 25.505),
            ("collectedAmount", "-3"),
            ("collectedAmount", "100000000000"),
            ("collectedCurrency", "TZS"),
            ("collectedCurrency", None),
        ],
    )
    def test_a_signed_webhook_with_a_bad_amount_or_currency_is_refused(
        self, field: str, value: object
    ) -> None:
        with pytest.raises(WebhookRejected, match=rf"^data\.{field}: "):
            parse(*signed_webhook("PAYMENT RECEIVED", {**DATA, field: value}, KEY))

    def test_a_failed_payment_without_amount_is_fine(self) -> None:
        data = {"id": "X", "status": "FAILED", "orderReference": "HERO1"}
        assert len(parse(*signed_webhook("PAYMENT FAILED", data, KEY))) == 1


# Hostile bodies: whatever comes, the parser answers messages or WebhookRejected.

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_DATA = st.fixed_dictionaries(
    {},
    optional={
        "orderReference": st.one_of(
            st.text(max_size=70), st.from_regex(r"[A-Za-z0-9]{1,64}", fullmatch=True), _JSON
        ),
        "collectedAmount": st.one_of(
            st.from_regex(r"-?[0-9]{0,16}(\.[0-9]{0,3})?", fullmatch=True), _JSON
        ),
        "collectedCurrency": st.sampled_from(["USD", "usd", "TZS", "", None]),
        "status": st.sampled_from(["SUCCESS", "FAILED", "PROCESSING"]),
    },
)
_EVENT_NAMES = st.sampled_from(["PAYMENT RECEIVED", "PAYMENT FAILED", "PAYOUT INITIATED", ""])


@settings(max_examples=300, deadline=None)
@given(
    name_key=st.sampled_from(["event", "eventType", "kind"]),
    name=_EVENT_NAMES,
    data=st.one_of(_DATA, _JSON),
    extra=st.dictionaries(st.text(max_size=5), _JSON, max_size=3),
    sign=st.booleans(),
)
def test_signed_hostile_webhooks_give_messages_or_a_named_refusal(
    name_key: str, name: str, data: Any, extra: dict[str, Any], sign: bool
) -> None:
    body: dict[str, Any] = {**extra, name_key: name, "data": data}
    body.pop("checksum", None)
    if sign:
        body["checksum"] = clickpesa_checksum(body, KEY)
    try:
        messages = parse(json.dumps(body).encode())
    except WebhookRejected as exc:
        assert str(exc).split(":")[0] in (
            "body",
            "checksum",
            "event",
            "data.orderReference",
            "data.collectedAmount",
            "data.collectedCurrency",
        )
        return
    assert sign
    for message in messages:
        assert message.actor == "confirm_clickpesa_payment"
        assert message.kwargs["order_reference"].isalnum()


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_are_refused_with_a_named_field(body: bytes) -> None:
    with pytest.raises(WebhookRejected, match=r"^(body|checksum|event|data\.)"):
        parse(body)
