"""The gateway through falcon's TestClient: health, webhooks, top-ups, errors, headers."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import falcon
import falcon.testing
import pytest

from adapters.payments.base import MAX_WEBHOOK_BYTES
from adapters.payments.sandbox import SandboxProvider
from adapters.payments.stripe_provider import StripeProvider
from gateway.auth.sessions import SESSION_COOKIE, start_session
from messages import Message
from models import Account, TopUp, ping
from models.errors import BrokerUnavailable
from tests.support.fake_post import FakePost
from tests.support.message_contract import Sent, check_message
from tests.support.stripe_events import checkout_completed, signed
from tests.support.web import PUBLIC_URL, make_app
from wire.times import utcnow

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
#: A valid Mycelium address nobody has an account for.
STRANGER = "52d:dc0:ab0c:851a:6e34:e79d:1f3f:15d3"
SECRET = "whsec_unit_test"

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}


class Browser:
    """A logged-in browser for the test client: its session cookie and CSRF token."""

    def __init__(self, address: str) -> None:
        token, session = start_session(address, ttl_s=3600, now=utcnow())
        self.cookies = {SESSION_COOKIE: token}
        self.csrf_token = session.csrf_token


#: ``send`` that checks each message against its actor and records it (always confirmed).
RecordingSend = Sent


def broker_down(message: Message) -> None:
    check_message(message)
    raise BrokerUnavailable(f"message to {message.actor} not confirmed")


def broker_check() -> None:
    raise ConnectionRefusedError("amqp://127.0.0.1:5672 refused the connection")


@pytest.fixture
def sent() -> RecordingSend:
    return RecordingSend()


@pytest.fixture
def fake_post() -> FakePost:
    return FakePost()


@pytest.fixture
def sandbox(fake_post: FakePost) -> SandboxProvider:
    return SandboxProvider(public_url=PUBLIC_URL, webhook_secret=SECRET, post=fake_post)


def make_client(
    sandbox: SandboxProvider, send: Any, checks: dict[str, Any] | None = None
) -> falcon.testing.TestClient:
    app = make_app(
        send=send,
        providers={"sandbox": sandbox},
        ready_checks=checks,
        public_url=PUBLIC_URL,
        webhook_providers={
            "stripe": StripeProvider(secret_key="sk_test_unit", webhook_secret=SECRET),
            "sandbox": sandbox,
        },
    )
    return falcon.testing.TestClient(app)


@pytest.fixture
def client(
    sqlite_db: str, sandbox: SandboxProvider, sent: RecordingSend
) -> falcon.testing.TestClient:
    return make_client(sandbox, sent)


@pytest.fixture
def down_client(sqlite_db: str, sandbox: SandboxProvider) -> falcon.testing.TestClient:
    return make_client(sandbox, broker_down)


@pytest.fixture
def account(sqlite_db: str) -> Account:
    return Account.create(address=ADDRESS)


@pytest.fixture
def browser(account: Account) -> Browser:
    """Logged in as ADDRESS, whose account exists."""
    return Browser(ADDRESS)


@pytest.fixture
def stranger(sqlite_db: str) -> Browser:
    """Logged in as STRANGER, whose account the workers have not created yet."""
    return Browser(STRANGER)


def post_webhook(
    client: falcon.testing.TestClient,
    event: dict[str, Any],
    *,
    secret: str = SECRET,
    provider: str = "stripe",
    timestamp: int | None = None,
) -> falcon.testing.Result:
    body, headers = signed(event, secret, timestamp=timestamp)
    return client.simulate_post(f"/webhooks/{provider}", body=body, headers=headers)


def post_topup(
    client: falcon.testing.TestClient,
    form: dict[str, str],
    accept: dict[str, str],
    browser: Browser,
) -> falcon.testing.Result:
    return client.simulate_post(
        "/topup",
        body=urlencode({"csrf_token": browser.csrf_token, **form}),
        headers={"Content-Type": "application/x-www-form-urlencoded", **accept},
        cookies=browser.cookies,
    )


def topup_form(**changes: str) -> dict[str, str]:
    return {"provider": "sandbox", "amount": "25.00", **changes}


class TestHealth:
    """Liveness, readiness and metrics."""

    def test_healthz_answers_200(self, client: falcon.testing.TestClient) -> None:
        result = client.simulate_get("/healthz")
        assert (result.status_code, result.json) == (200, {"status": "ok"})

    def test_readyz_answers_200_when_every_check_passes(
        self, client: falcon.testing.TestClient
    ) -> None:
        result = client.simulate_get("/readyz")
        assert (result.status_code, result.json["checks"]) == (200, {"database": "ok"})

    def test_readyz_answers_503_when_a_check_fails(
        self, sqlite_db: str, sandbox: SandboxProvider, sent: RecordingSend
    ) -> None:
        client = make_client(sandbox, sent, {"database": ping, "broker": broker_check})
        assert client.simulate_get("/readyz").status_code == 503

    def test_readyz_names_the_failing_check(
        self, sqlite_db: str, sandbox: SandboxProvider, sent: RecordingSend
    ) -> None:
        client = make_client(sandbox, sent, {"database": ping, "broker": broker_check})
        checks = client.simulate_get("/readyz").json["checks"]
        assert checks["database"] == "ok"
        assert checks["broker"].startswith("down: ConnectionRefusedError")

    def test_metrics_are_prometheus_text(self, client: falcon.testing.TestClient) -> None:
        result = client.simulate_get("/metrics")
        assert result.status_code == 200
        assert result.headers["Content-Type"].startswith("text/plain")
        assert "# TYPE hero_webhooks_total counter" in result.text


class TestSecurityHeaders:
    """Every answer carries the security headers."""

    def test_csp_forbids_framing(self, client: falcon.testing.TestClient) -> None:
        csp = client.simulate_get("/healthz").headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp

    def test_referrer_policy_is_no_referrer(self, client: falcon.testing.TestClient) -> None:
        assert client.simulate_get("/healthz").headers["Referrer-Policy"] == "no-referrer"

    def test_error_pages_carry_the_headers_too(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(amount="abc"), HTML, browser)
        assert "frame-ancestors" in result.headers["Content-Security-Policy"]
        assert result.headers["Referrer-Policy"] == "no-referrer"


class TestStripeWebhook:
    """``POST /webhooks/stripe``: verify, queue, then 200."""

    def test_good_signature_answers_200(self, client: falcon.testing.TestClient) -> None:
        result = post_webhook(client, checkout_completed(address=ADDRESS, amount_cents=2500))
        assert (result.status_code, result.json) == (200, {"received": True, "queued": 1})

    def test_paid_checkout_sends_one_apply_payment(
        self, client: falcon.testing.TestClient, sent: RecordingSend
    ) -> None:
        event = checkout_completed(
            address=ADDRESS, amount_cents=2500, payment_intent="pi_unit_1", topup_id="HEROABC123"
        )
        post_webhook(client, event)
        assert sent.calls == [
            (
                "apply_payment",
                {
                    "provider": "stripe",
                    "payment_key": "pi_unit_1",
                    "address": ADDRESS,
                    "amount_cents": 2500,
                    "currency": "usd",
                    "paid_at": event["created"],
                    "topup_id": "HEROABC123",
                    "event_id": event["id"],
                },
            )
        ]

    def test_payment_key_falls_back_to_the_session_id(
        self, client: falcon.testing.TestClient, sent: RecordingSend
    ) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500, payment_intent="")
        post_webhook(client, event)
        assert sent.calls[0][1]["payment_key"] == event["data"]["object"]["id"]

    def test_broker_down_answers_503(self, down_client: falcon.testing.TestClient) -> None:
        result = post_webhook(down_client, checkout_completed(address=ADDRESS, amount_cents=1))
        assert result.status_code == 503

    def test_broker_down_answers_a_json_error(self, down_client: falcon.testing.TestClient) -> None:
        result = post_webhook(down_client, checkout_completed(address=ADDRESS, amount_cents=1))
        assert result.headers["Content-Type"].startswith("application/json")
        assert result.json["title"] == "Try again shortly"

    def test_broker_down_asks_to_retry_later(self, down_client: falcon.testing.TestClient) -> None:
        result = post_webhook(down_client, checkout_completed(address=ADDRESS, amount_cents=1))
        assert result.headers["Retry-After"] == "5"

    def test_bad_signature_answers_400(
        self, client: falcon.testing.TestClient, sent: RecordingSend
    ) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500)
        result = post_webhook(client, event, secret="whsec_someone_else")
        assert (result.status_code, sent.calls) == (400, [])

    def test_bad_signature_error_is_json_naming_the_header(
        self, client: falcon.testing.TestClient
    ) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500)
        result = post_webhook(client, event, secret="whsec_someone_else")
        assert result.headers["Content-Type"].startswith("application/json")
        assert "Stripe-Signature" in result.json["description"]

    def test_missing_signature_answers_400(self, client: falcon.testing.TestClient) -> None:
        body = json.dumps(checkout_completed(address=ADDRESS, amount_cents=2500)).encode()
        result = client.simulate_post(
            "/webhooks/stripe", body=body, headers={"Content-Type": "application/json"}
        )
        assert result.status_code == 400

    def test_body_signed_for_other_bytes_answers_400(
        self, client: falcon.testing.TestClient
    ) -> None:
        body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=100), SECRET)
        tampered = body.replace(b'"amount_total": 100', b'"amount_total": 100000')
        result = client.simulate_post("/webhooks/stripe", body=tampered, headers=headers)
        assert result.status_code == 400

    def test_stale_timestamp_answers_400(self, client: falcon.testing.TestClient) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500)
        result = post_webhook(client, event, timestamp=int(time.time()) - 301)
        assert result.status_code == 400

    def test_future_timestamp_answers_400(self, client: falcon.testing.TestClient) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500)
        result = post_webhook(client, event, timestamp=int(time.time()) + 600)
        assert result.status_code == 400

    def test_body_over_the_limit_answers_413(self, client: falcon.testing.TestClient) -> None:
        body = b"{" + b" " * MAX_WEBHOOK_BYTES + b"}"
        result = client.simulate_post(
            "/webhooks/stripe", body=body, headers={"Content-Type": "application/json"}
        )
        assert result.status_code == 413

    def test_unknown_provider_answers_404(self, client: falcon.testing.TestClient) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500)
        assert post_webhook(client, event, provider="paypal").status_code == 404

    def test_unpaid_checkout_answers_200(self, client: falcon.testing.TestClient) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500, payment_status="unpaid")
        assert post_webhook(client, event).status_code == 200

    def test_unpaid_checkout_sends_nothing(
        self, client: falcon.testing.TestClient, sent: RecordingSend
    ) -> None:
        event = checkout_completed(address=ADDRESS, amount_cents=2500, payment_status="unpaid")
        post_webhook(client, event)
        assert sent.calls == []

    def test_unrelated_event_type_answers_200(self, client: falcon.testing.TestClient) -> None:
        event = checkout_completed(
            address=ADDRESS, amount_cents=2500, event_type="customer.created"
        )
        assert post_webhook(client, event).status_code == 200

    def test_unrelated_event_type_sends_nothing(
        self, client: falcon.testing.TestClient, sent: RecordingSend
    ) -> None:
        event = checkout_completed(
            address=ADDRESS, amount_cents=2500, event_type="customer.created"
        )
        post_webhook(client, event)
        assert sent.calls == []


class TestTopUpErrors:
    """A bad top-up form is refused, naming the field, as HTML or JSON as the client asks."""

    @pytest.mark.parametrize("amount", ["abc", "0.50", "100000.01", "12.345", ""])
    def test_bad_amount_answers_400(
        self, client: falcon.testing.TestClient, browser: Browser, amount: str
    ) -> None:
        assert post_topup(client, topup_form(amount=amount), HTML, browser).status_code == 400

    def test_bad_amount_html_page_says_the_problem_next_to_the_field(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(amount="abc"), HTML, browser)
        assert result.headers["Content-Type"].startswith("text/html")
        assert '<p class="field-error" id="amount-error">Enter an amount between' in result.text

    def test_bad_amount_json_names_the_field(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(amount="abc"), JSON, browser)
        assert result.headers["Content-Type"].startswith("application/json")
        assert result.json["description"].startswith("amount:")

    def test_unknown_provider_answers_400(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        assert post_topup(client, topup_form(provider="paypal"), HTML, browser).status_code == 400

    def test_unknown_provider_html_page_says_the_problem_next_to_the_field(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(provider="paypal"), HTML, browser)
        assert result.headers["Content-Type"].startswith("text/html")
        assert '<p class="field-error" id="provider-error">Choose how to pay' in result.text

    def test_unknown_provider_json_names_the_field(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(provider="paypal"), JSON, browser)
        assert result.json["description"].startswith("provider:")

    def test_address_without_account_answers_409(
        self, client: falcon.testing.TestClient, stranger: Browser
    ) -> None:
        assert post_topup(client, topup_form(), HTML, stranger).status_code == 409

    def test_address_without_account_html_page_says_it_is_being_set_up(
        self, client: falcon.testing.TestClient, stranger: Browser
    ) -> None:
        result = post_topup(client, topup_form(), HTML, stranger)
        assert result.headers["Content-Type"].startswith("text/html")
        assert "Your account is being set up" in result.text

    def test_address_without_account_json_says_so(
        self, client: falcon.testing.TestClient, stranger: Browser
    ) -> None:
        result = post_topup(client, topup_form(), JSON, stranger)
        assert result.json["title"] == "Your account is being set up"

    def test_refused_top_up_sends_nothing(
        self,
        client: falcon.testing.TestClient,
        browser: Browser,
        stranger: Browser,
        sent: RecordingSend,
    ) -> None:
        post_topup(client, topup_form(), HTML, stranger)
        post_topup(client, topup_form(amount="abc"), HTML, browser)
        assert sent.calls == []

    def test_amount_with_a_huge_exponent_answers_400(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(amount="1e999999999"), HTML, browser)
        assert result.status_code == 400


class TestTopUpStart:
    """A good top-up records the top-up and redirects to the provider's checkout."""

    def test_good_top_up_redirects_to_the_sandbox_checkout(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(), HTML, browser)
        assert result.status_code == 303
        assert result.headers["Location"].startswith(f"{PUBLIC_URL}/sandbox/checkout/HERO")

    def test_good_top_up_sends_record_topup_then_where_its_checkout_is(
        self, client: falcon.testing.TestClient, browser: Browser, sent: RecordingSend
    ) -> None:
        result = post_topup(client, topup_form(), HTML, browser)
        topup_id = result.headers["Location"].rsplit("/", 1)[1]
        assert sent.calls[1] == (
            "note_checkout",
            {
                "public_id": topup_id,
                "address": ADDRESS,
                "provider_ref": f"cs_sandbox_{topup_id}",
                "checkout_url": result.headers["Location"],
            },
        )
        assert sent.calls[:1] == [
            (
                "record_topup",
                {
                    "public_id": topup_id,
                    "address": ADDRESS,
                    "provider": "sandbox",
                    "amount_cents": 2500,
                    "provider_ref": None,
                },
            )
        ]

    def test_an_address_in_the_form_is_ignored_for_the_sessions(
        self, client: falcon.testing.TestClient, browser: Browser, sent: RecordingSend
    ) -> None:
        post_topup(client, topup_form(address=STRANGER), HTML, browser)
        assert {kwargs["address"] for _, kwargs in sent.calls} == {ADDRESS}

    def test_good_top_up_answers_json_with_the_redirect(
        self, client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        result = post_topup(client, topup_form(), JSON, browser)
        assert result.status_code == 201
        assert result.json["redirect_url"] == (
            f"{PUBLIC_URL}/sandbox/checkout/{result.json['topup_id']}"
        )

    def test_top_up_with_broker_down_answers_503(
        self, down_client: falcon.testing.TestClient, browser: Browser
    ) -> None:
        assert post_topup(down_client, topup_form(), HTML, browser).status_code == 503


class TestTopUpStatus:
    """``/topups/{id}`` shows a top-up to its owner's session only."""

    @pytest.fixture
    def topup(self, account: Account) -> TopUp:
        return TopUp.create(
            public_id="HEROUNIT1", account=account, provider="sandbox", amount_cents=2500
        )

    def test_the_owner_sees_it(
        self, client: falcon.testing.TestClient, topup: TopUp, browser: Browser
    ) -> None:
        result = client.simulate_get("/topups/HEROUNIT1", headers=JSON, cookies=browser.cookies)
        assert (result.status_code, result.json["amount_cents"]) == (200, 2500)

    def test_another_user_gets_404(
        self, client: falcon.testing.TestClient, topup: TopUp, stranger: Browser
    ) -> None:
        result = client.simulate_get("/topups/HEROUNIT1", headers=JSON, cookies=stranger.cookies)
        assert result.status_code == 404

    def test_without_a_session_the_api_answers_401(
        self, client: falcon.testing.TestClient, topup: TopUp
    ) -> None:
        assert client.simulate_get("/topups/HEROUNIT1", headers=JSON).status_code == 401

    def test_without_a_session_a_page_goes_to_login(
        self, client: falcon.testing.TestClient, topup: TopUp
    ) -> None:
        result = client.simulate_get("/topups/HEROUNIT1", headers=HTML)
        assert (result.status_code, result.headers["Location"]) == (
            303,
            "/login?next=%2Ftopups%2FHEROUNIT1",
        )


class TestSandboxCheckout:
    """Paying a sandbox checkout posts a signed Stripe-format webhook to the real route."""

    @pytest.fixture
    def topup(self, account: Account) -> TopUp:
        return TopUp.create(
            public_id="HEROUNIT1", account=account, provider="sandbox", amount_cents=2500
        )

    @staticmethod
    def pay(
        client: falcon.testing.TestClient, topup_id: str, browser: Browser
    ) -> falcon.testing.Result:
        return client.simulate_post(
            f"/sandbox/checkout/{topup_id}",
            body=urlencode({"csrf_token": browser.csrf_token}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            cookies=browser.cookies,
        )

    def test_paying_redirects_to_the_top_up_status_page(
        self, client: falcon.testing.TestClient, topup: TopUp, browser: Browser
    ) -> None:
        result = self.pay(client, "HEROUNIT1", browser)
        assert (result.status_code, result.headers["Location"]) == (303, "/topups/HEROUNIT1")

    def test_paying_posts_to_the_sandbox_webhook_route(
        self,
        client: falcon.testing.TestClient,
        topup: TopUp,
        browser: Browser,
        fake_post: FakePost,
    ) -> None:
        self.pay(client, "HEROUNIT1", browser)
        assert [c["url"] for c in fake_post.calls] == [f"{PUBLIC_URL}/webhooks/sandbox"]

    def test_posted_webhook_is_accepted_by_the_gateway(
        self,
        client: falcon.testing.TestClient,
        topup: TopUp,
        browser: Browser,
        fake_post: FakePost,
        sent: RecordingSend,
    ) -> None:
        self.pay(client, "HEROUNIT1", browser)
        posted = fake_post.calls[0]
        client.simulate_post("/webhooks/sandbox", body=posted["data"], headers=posted["headers"])
        assert [
            (a, k["provider"], k["address"], k["amount_cents"], k["topup_id"])
            for a, k in sent.calls
        ] == [("apply_payment", "sandbox", ADDRESS, 2500, "HEROUNIT1")]

    def test_unknown_top_up_is_not_paid(
        self, client: falcon.testing.TestClient, browser: Browser, fake_post: FakePost
    ) -> None:
        result = self.pay(client, "HERONOPE", browser)
        assert (result.status_code, fake_post.calls) == (409, [])

    def test_another_users_top_up_is_not_paid(
        self,
        client: falcon.testing.TestClient,
        topup: TopUp,
        stranger: Browser,
        fake_post: FakePost,
    ) -> None:
        result = self.pay(client, "HEROUNIT1", stranger)
        assert (result.status_code, fake_post.calls) == (404, [])

    def test_paying_without_the_csrf_token_is_refused(
        self,
        client: falcon.testing.TestClient,
        topup: TopUp,
        browser: Browser,
        fake_post: FakePost,
    ) -> None:
        result = client.simulate_post("/sandbox/checkout/HEROUNIT1", cookies=browser.cookies)
        assert (result.status_code, fake_post.calls) == (403, [])
