"""iDenfy webhooks: signature first, then the gate's facts, never personal data, never a 500."""

from __future__ import annotations

import json
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.kyc.idenfy import IdenfyProvider
from adapters.kyc.idenfy_webhook import parse_idenfy_webhook, sign
from adapters.kyc.sandbox import SandboxKycProvider
from adapters.payments.base import WebhookRejected
from gateway.resources.kyc import KycWebhook
from messages.facts import message_for
from models.errors import BrokerUnavailable
from settings import ConfigError, Settings
from tests.support.fake_idenfy import fake_idenfy
from tests.support.message_contract import check_message

KEY = "signing-key"
SCAN = "ec6a7108-8c26-11e9-9758-309c231b1bac"


def body(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "final": True,
        "status": {
            "overall": "DENIED",
            "autoDocument": "DOC_EXPIRED",
            "autoFace": "FACE_MATCH",
            "fraudTags": ["VIRTUAL_CAMERA"],
            "mismatchTags": [],
        },
        "data": {"docFirstName": "JOHN", "docDob": "1990-05-15", "docNumber": "XK1"},
        "fileUrls": {"FACE": "https://s3.example/FACE.png"},
        "scanRef": SCAN,
        "clientId": "hk01",
        "clientIp": "203.0.113.7",
    }
    data.update(over)
    return data


def parse(data: Any, event: str = "IDENTIFICATION_AUTO_FINISHED", key: str = KEY) -> dict[str, Any]:
    raw = json.dumps(data).encode()
    headers = {"idenfy-signature": sign(raw, key), "idenfy-event-type": event}
    [fact] = parse_idenfy_webhook(raw, headers, signing_key=KEY)
    return check_message(message_for(fact)).kwargs["result"]


def test_keeps_status_reference_and_codes_and_drops_personal_data() -> None:
    result = parse(body())
    assert result["overall"] == "DENIED" and result["scan_ref"] == SCAN and result["final"] is True
    assert result["auto_document"] == "DOC_EXPIRED"
    assert result["tags"] == {"fraudTags": ["VIRTUAL_CAMERA"], "mismatchTags": []}
    text = json.dumps(result)
    for personal in ("JOHN", "1990", "XK1", "s3.example", "203.0.113"):
        assert personal not in text


def test_signature_is_checked_before_anything_else() -> None:
    raw = b"not even json"
    with pytest.raises(WebhookRejected, match="Idenfy-Signature: missing"):
        parse_idenfy_webhook(raw, {}, signing_key=KEY)
    with pytest.raises(WebhookRejected, match="does not match"):
        parse_idenfy_webhook(raw, {"idenfy-signature": sign(raw, "other")}, signing_key=KEY)
    with pytest.raises(WebhookRejected, match="body: not JSON"):
        parse_idenfy_webhook(raw, {"idenfy-signature": sign(raw, KEY).upper()}, signing_key=KEY)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (body(scanRef=None), "scanRef: missing"),
        (body(scanRef=7), "scanRef: must be"),
        (body(clientId="x" * 101), "clientId:"),
        (body(final="yes"), "final:"),
        (body(status="APPROVED"), "status:"),
        (body(status={"autoDocument": "DOC_VALIDATED"}), "status.overall: missing"),
        (body(status={"overall": "APPROVED", "fraudTags": "DUPLICATE_FACE"}), "status.fraudTags"),
        (body(status={"overall": "APPROVED", "autoFace": 3}), "status.autoFace"),
        ([1, 2], "body: not a JSON object"),
    ],
)
def test_malformed_bodies_name_the_field(data: Any, field: str) -> None:
    with pytest.raises(WebhookRejected, match=field):
        parse(data)


def test_event_names_old_and_new_and_legacy_reasons() -> None:
    assert parse(body(), "ID VERIFICATION CANCELED")["event_type"] == "IDENTIFICATION_CANCELLED"
    legacy = parse(body(suspicionReasons=["FACE_SUSPECTED"], final=None), "IDENTIFICATION")
    assert legacy["tags"]["suspicionReasons"] == ["FACE_SUSPECTED"] and legacy["final"] is None
    assert parse(body(status={"overall": "NEW_THING"}))["overall"] == "UNKNOWN"
    expiring = parse({"scanRef": SCAN, "documentExpiration": "2027-01-01"}, "DOCUMENT_EXPIRATION")
    assert expiring["overall"] is None
    with pytest.raises(WebhookRejected, match="Idenfy-Event-Type"):
        parse(body(), "SOMETHING_ELSE")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
statuses = st.fixed_dictionaries(
    {},
    optional={
        k: json_values | st.sampled_from(["APPROVED", "DENIED", "DOC_VALIDATED"])
        for k in (
            "overall",
            "autoDocument",
            "autoFace",
            "manualDocument",
            "manualFace",
            "fraudTags",
            "mismatchTags",
        )
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "final": json_values,
        "status": statuses | json_values,
        "scanRef": json_values | st.just(SCAN),
        "clientId": json_values | st.just("hk01"),
        "data": json_values,
        "suspicionReasons": json_values,
    },
)


@given(
    data=bodies | json_values,
    event=st.sampled_from(
        ["IDENTIFICATION", "IDENTIFICATION_MANUAL_FINISHED", "DOCUMENT_EXPIRATION", "x"]
    ),
)
@settings(max_examples=300, deadline=None)
def test_any_signed_json_is_facts_or_a_named_refusal(data: Any, event: str) -> None:
    try:
        result = parse(data, event)
    except WebhookRejected as exc:
        assert ":" in str(exc)
        return
    assert isinstance(result["scan_ref"], str) and len(result["scan_ref"]) <= 64
    assert all(len(t) <= 40 for tags in result["tags"].values() for t in tags)
    json.dumps(result)


@given(raw=st.binary(max_size=300))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_route_answers_400_or_200_never_500(raw: bytes) -> None:
    sent: list[Any] = []
    app = falcon.App()
    app.add_route(
        "/webhooks/idenfy",
        KycWebhook(
            provider=SandboxKycProvider(public_url="http://h", signing_key=KEY),
            send=lambda message: sent.append(check_message(message)),
        ),
    )
    client = falcon.testing.TestClient(app)
    for headers in ({"Idenfy-Signature": sign(raw, KEY)}, {}):
        answer = client.simulate_post("/webhooks/idenfy", body=raw, headers=headers)
        assert answer.status_code in (200, 400)


def test_route_answers_503_when_the_broker_is_down() -> None:
    def down(message: Any) -> None:
        check_message(message)
        raise BrokerUnavailable("no")

    from gateway.errors import add_domain_error_handlers

    app = falcon.App()
    add_domain_error_handlers(app)
    app.add_route(
        "/webhooks/idenfy",
        KycWebhook(provider=SandboxKycProvider(public_url="http://h", signing_key=KEY), send=down),
    )
    raw = json.dumps(body()).encode()
    answer = falcon.testing.TestClient(app).simulate_post(
        "/webhooks/idenfy",
        body=raw,
        headers={"Idenfy-Signature": sign(raw, KEY), "Idenfy-Event-Type": "IDENTIFICATION"},
    )
    assert answer.status_code == 503


def test_idenfy_provider_against_the_stand_in() -> None:
    with fake_idenfy("k", "s", KEY) as fake:
        session = IdenfyProvider(
            api_key="k", api_secret="s", signing_key=KEY, api_base=fake.url
        ).start(client_id="hk01", return_url="https://h/kyc/return")
        assert session.redirect_url.startswith(f"{fake.url}/api/v2/redirect?authToken=")
        sent = fake.token_requests[0]
        assert sent["clientId"] == "hk01" and sent["tokenType"] == "IDENTIFICATION"
        assert sent["successUrl"] == "https://h/kyc/return?r=success"
        from adapters.kyc.base import KycUnavailable

        with pytest.raises(KycUnavailable, match="UNAUTHORIZED"):
            IdenfyProvider(api_key="k", api_secret="bad", signing_key=KEY, api_base=fake.url).start(
                client_id="hk02", return_url="https://h/r"
            )
    with pytest.raises(KycUnavailable, match="could not be reached"):
        IdenfyProvider(api_key="k", api_secret="s", signing_key=KEY, api_base=fake.url).start(
            client_id="hk03", return_url="https://h/r"
        )


def test_settings_defaults_and_production_checks() -> None:
    dev = Settings.from_env({})
    assert (dev.kyc_provider, dev.kyc_required_for) == (
        "sandbox",
        "none",
    ) and dev.idenfy_signing_key
    prod = Settings.from_env({"HERO_ENV": "prod"})
    assert (prod.kyc_provider, prod.kyc_required_for) == ("idenfy", "plan")
    problems = "\n".join(prod.production_problems())
    for name in ("HERO_IDENFY_API_KEY", "HERO_IDENFY_API_SECRET", "HERO_IDENFY_SIGNING_KEY"):
        assert name in problems
    sandbox = Settings.from_env({"HERO_ENV": "prod", "HERO_KYC_PROVIDER": "sandbox"})
    assert sandbox.idenfy_signing_key is None
    assert any("HERO_KYC_PROVIDER" in p for p in sandbox.production_problems())
    with pytest.raises(ConfigError, match="HERO_KYC_REQUIRED_FOR"):
        Settings.from_env({"HERO_KYC_PROVIDER": "none", "HERO_KYC_REQUIRED_FOR": "plan"})
    with pytest.raises(ConfigError, match="HERO_KYC_PROVIDER"):
        Settings.from_env({"HERO_KYC_PROVIDER": "onfido"})
    from runtime.bootstrap import kyc_provider

    assert kyc_provider(sandbox) is None
    with pytest.raises(ConfigError, match="HERO_IDENFY_API_KEY"):
        kyc_provider(Settings.from_env({"HERO_KYC_PROVIDER": "idenfy"}))
