"""Malformed and hostile requests get a 4xx on every route, never a 500.

The routes are read from the app itself (``falcon.inspect``), so a new route is fuzzed
the day it is added. Webhook bodies are also fuzzed *signed* with the test secrets, so
the fuzz reaches past the signature check into the providers' parsers.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import quote

import falcon
import falcon.inspect
import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.payments.clickpesa import ClickPesaProvider, clickpesa_checksum
from adapters.payments.sandbox import SandboxProvider
from adapters.payments.stripe_provider import StripeProvider, sign_stripe_payload
from gateway.auth.sessions import CSRF_HEADER, SESSION_COOKIE, start_session
from messages import Message
from models import Account, Billing
from tests.support.message_contract import check_message
from tests.support.web import make_app
from wire.times import utcnow

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
STRIPE_SECRET = "whsec_hostile_test"
CLICKPESA_KEY = "clickpesa_checksum_hostile_test"
HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sent(message: Message) -> None:
    """The broker confirms every message (nothing runs) the actor would accept."""
    check_message(message)


def hostile_app() -> falcon.App[Any, Any]:
    return make_app(
        send=sent,
        providers={"sandbox": SandboxProvider(public_url="http://hero.test", webhook_secret="x")},
        webhook_providers={
            "stripe": StripeProvider(secret_key="sk_test_x", webhook_secret=STRIPE_SECRET),
            "clickpesa": ClickPesaProvider(
                client_id="id", api_key="key", checksum_key=CLICKPESA_KEY
            ),
        },
    )


@pytest.fixture
def app(sqlite_db: str) -> falcon.App[Any, Any]:
    return hostile_app()


@pytest.fixture
def client(app: falcon.App[Any, Any]) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(app)


@pytest.fixture
def session(sqlite_db: str) -> dict[str, Any]:
    """A logged-in browser's cookies and CSRF header, so requests reach the responders."""
    Billing.create(account=Account.create(address=ADDRESS), balance_cents=2500)
    token, row = start_session(ADDRESS, ttl_s=3600, now=utcnow())
    return {"cookies": {SESSION_COOKIE: token}, "headers": {CSRF_HEADER: row.csrf_token}}


def routes(app: falcon.App[Any, Any]) -> list[tuple[str, str]]:
    """Every (method, path template) the app answers."""
    return sorted(
        (method.method, route.path)
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    )


#: Path parameter values: real-looking, absent, and hostile.
PARAMS = st.one_of(
    st.sampled_from(["stripe", "clickpesa", "sandbox", "HERO" + "0" * 20, "a" * 32, "x"]),
    st.text(min_size=1, max_size=300),
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/xml",
        "*/*",
        "application/json;;;",
    ]
)
#: Any JSON, with text holding anything (lone surrogates escape as \\udxxx).
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["email", "address", "next", "pubkey", "box", "plan_id", "request_id", "provider"]
FIELD_OBJECTS = st.dictionaries(
    st.sampled_from([*FIELDS, "amount", "custom_amount", "csrf_token"]), JSON_VALUES, max_size=5
)
SPECIAL_BODIES = st.sampled_from(
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"email": "\\ud800@example.com"}',
        b'{"address": "\\udfff"}',
        b'{"amount": 1e999, "provider": "sandbox"}',
        b'{"amount": -Infinity}',
        b'{"amount": NaN}',
        b'{"request_id": ' + b"9" * 5000 + b"}",
        b'{"plan_id": 123456789012345678901234567890}',
        b"\xff\xfe\x00{",
        b"\xed\xa0\x80",
        b"provider=sandbox&provider=stripe&amount=5",
        b"email=%ff%fe&address=%00&next=%ed%a0%80",
        b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na@b.co\r\n--x--\r\n',
        b"",
        b"null",
        b"[]",
        b'"text"',
    ]
)
BODIES = st.one_of(
    st.binary(max_size=2000),
    SPECIAL_BODIES,
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    FIELD_OBJECTS.map(lambda v: json.dumps(v).encode()),
)


def post(
    client: falcon.testing.TestClient, session: dict[str, Any], path: str, body: bytes, kind: str
) -> falcon.testing.Result:
    headers = {"Content-Type": kind, "Accept": "application/json", **session["headers"]}
    return client.simulate_post(path, body=body, headers=headers, cookies=session["cookies"])


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("path", "body", "kind", "status", "description"),
    [
        ("/account/email", b'{"email": ["a@example.com"]}', JSON, 400, "email: must be one"),
        ("/account/email", b'{"email": {"$ne": 1}}', JSON, 400, "email: must be one"),
        ("/topup", b"provider=sandbox&provider=stripe&amount=5", FORM, 400, "provider: must"),
        ("/topup", b'{"provider": "sandbox", "amount": [5]}', JSON, 400, "amount: must be"),
        ("/plans", b'{"plan_id": "5vms", "request_id": 7}', JSON, 400, "request_id:"),
        ("/account/email", b'{"email": "\\ud800@example.com"}', JSON, 400, "body: a string"),
        ("/topup", b'{"amount": 1e999}', JSON, 400, "body: the number 1e999"),
        ("/topup", b'{"amount": NaN}', JSON, 400, "body: NaN is not"),
        ("/topup", b'{"amount": 99999999999999999999}', JSON, 400, "body: the number"),
        ("/vms", b"[" * 5000 + b"]" * 5000, JSON, 400, "body: nested deeper"),
        ("/vms", b"[" * 40 + b"]" * 40, JSON, 400, "body: nested deeper than 32"),
        ("/vms", b"[1, 2]", JSON, 400, "body: send a form or a JSON object"),
        ("/account/email", b'{"email": "\xff"}', JSON, 400, None),
        ("/account/email", b"\xff\xfe", JSON, 400, None),
        ("/account/email", b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x", 415, None),
        ("/auth/challenges", b'{"address": ["1"]}', JSON, 400, "address: must be one"),
    ],
)
def test_malformed_bodies_get_a_4xx_naming_the_field(
    client: falcon.testing.TestClient,
    session: dict[str, Any],
    path: str,
    body: bytes,
    kind: str,
    status: int,
    description: str | None,
) -> None:
    result = post(client, session, path, body, kind)
    assert result.status_code == status, result.text
    if description is not None:
        assert result.json["description"].startswith(description), result.text


def test_an_all_zero_public_key_is_a_refused_proof(
    client: falcon.testing.TestClient, session: dict[str, Any]
) -> None:
    challenge = post(client, session, "/auth/challenges", f"address={ADDRESS}".encode(), FORM)
    proof = json.dumps({"pubkey": "00" * 32, "box": "00" * 40}).encode()
    result = post(client, session, f"/auth/challenges/{challenge.json['id']}/proof", proof, JSON)
    assert result.status_code == 403 and result.json["description"].startswith("Box: does not")


@pytest.mark.parametrize(
    "path",
    ["/topups/HERO%00", "/requests/%00", "/auth/challenges/a%00b", "/sandbox/checkout/%ff%00"],
)
def test_a_nul_in_a_path_id_is_a_404_on_postgresql(pg_db: str, path: str) -> None:
    """PostgreSQL refuses NUL in text; such an id never reaches it."""
    Billing.create(account=Account.create(address=ADDRESS))
    token, _ = start_session(ADDRESS, ttl_s=3600, now=utcnow())
    client = falcon.testing.TestClient(hostile_app())
    result = client.simulate_get(path, cookies={SESSION_COOKIE: token}, headers=ACCEPT_JSON)
    assert result.status_code == 404, result.text


ACCEPT_JSON = {"Accept": "application/json"}


def fill(template: str, value: str) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda _: quote(value, safe=""), template)


@HYPOTHESIS
@given(data=st.data(), body=BODIES, content_type=CONTENT_TYPES, logged_in=st.booleans())
def test_no_route_answers_500_to_any_body(
    app: falcon.App[Any, Any],
    client: falcon.testing.TestClient,
    session: dict[str, Any],
    data: st.DataObject,
    body: bytes,
    content_type: str | None,
    logged_in: bool,
) -> None:
    method, template = data.draw(st.sampled_from(routes(app)), label="route")
    path = fill(template, data.draw(PARAMS, label="param"))
    headers = {"Accept": data.draw(st.sampled_from(["application/json", "text/html", "*/*"]))}
    if content_type:
        headers["Content-Type"] = content_type
    kwargs: dict[str, Any] = {"body": body, "headers": headers}
    if logged_in:
        kwargs = {"body": body, "headers": {**headers, **session["headers"]}}
        kwargs["cookies"] = session["cookies"]
    result = client.simulate_request(method, path, **kwargs)
    assert result.status_code < 500, (method, path, body[:200], result.text[:500])


STRIPE_EVENTS = st.fixed_dictionaries(
    {
        "id": JSON_VALUES,
        "type": st.sampled_from(
            [
                "checkout.session.completed",
                "checkout.session.async_payment_succeeded",
                "charge.refunded",
                "charge.dispute.created",
                "payment_intent.succeeded",
            ]
        )
        | JSON_VALUES,
        "created": JSON_VALUES,
        "data": st.fixed_dictionaries({"object": JSON_VALUES | FIELD_OBJECTS}) | JSON_VALUES,
    }
)


@HYPOTHESIS
@given(body=st.one_of(BODIES, STRIPE_EVENTS.map(lambda e: json.dumps(e).encode())))
def test_a_signed_stripe_webhook_never_500s(client: falcon.testing.TestClient, body: bytes) -> None:
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_stripe_payload(body, STRIPE_SECRET, int(time.time())),
    }
    result = client.simulate_post("/webhooks/stripe", body=body, headers=headers)
    assert result.status_code in (200, 400), (body[:300], result.text[:500])


CLICKPESA_EVENTS = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["PAYMENT RECEIVED", "PAYMENT FAILED", "PAYOUT"]) | JSON_VALUES,
        "data": st.dictionaries(
            st.sampled_from(["orderReference", "status", "collectedAmount", "id"]),
            JSON_VALUES,
        )
        | JSON_VALUES,
    },
    optional={"checksumMethod": JSON_VALUES},
)


@HYPOTHESIS
@given(event=CLICKPESA_EVENTS)
def test_a_checksummed_clickpesa_webhook_never_500s(
    client: falcon.testing.TestClient, event: dict[str, Any]
) -> None:
    try:
        event["checksum"] = clickpesa_checksum(event, CLICKPESA_KEY)
    except (UnicodeEncodeError, TypeError, ValueError):
        event["checksum"] = "0" * 64  # unsignable (a lone surrogate): sent unsigned
    body = json.dumps(event).encode()
    result = client.simulate_post(
        "/webhooks/clickpesa", body=body, headers={"Content-Type": "application/json"}
    )
    assert result.status_code in (200, 400), (body[:300], result.text[:500])


@HYPOTHESIS
@given(body=BODIES)
def test_an_unsigned_clickpesa_webhook_is_a_400(
    client: falcon.testing.TestClient, body: bytes
) -> None:
    result = client.simulate_post(
        "/webhooks/clickpesa", body=body, headers={"Content-Type": "application/json"}
    )
    assert result.status_code == 400, (body[:300], result.text[:500])
