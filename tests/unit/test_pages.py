"""The logged-in pages in-process: dashboard, plans, VMs, requests and payments."""

from __future__ import annotations

import uuid

import falcon.testing
import pytest

from actors.plans import buy, carry_out
from models import Account, ActionRequest, Billing
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY, address_of
from tests.support.web import HTML, Browser, Clock, Sent, make_app, prove
from wire.times import utcnow


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(sqlite_db: str, sent: Sent) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), sent))


def logged_in(client: falcon.testing.TestClient, key=ALICE_KEY) -> Browser:
    browser = Browser(client)
    address = address_of(key)
    Billing.create(account=Account.create(address=address), balance_cents=2500)
    challenge = browser.start_login(address)
    prove(client, challenge, key)
    assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "logged_in"
    return browser


@pytest.mark.parametrize("path", ["/", "/plans", "/payments", f"/requests/{'a' * 32}"])
def test_pages_send_visitors_to_the_login(client, path: str) -> None:
    page = client.simulate_get(path, headers=HTML)
    assert page.status_code == 303 and page.headers["Location"].startswith("/login?next=")
    assert client.simulate_get(path, headers={"Accept": "application/json"}).status_code == 401


def test_the_dashboard_shows_the_balance(client) -> None:
    alice = logged_in(client)
    page = alice.get("/", headers=HTML)
    assert page.status_code == 200 and 'id="balance"' in page.text and "$25.00" in page.text
    assert "<svg" in page.text
    assert alice.get("/").json["balance_cents"] == 2500


def test_buying_a_plan_sends_one_message_with_the_forms_request_id(client, sent: Sent) -> None:
    alice = logged_in(client)
    request_id = uuid.uuid4().hex
    form = {"plan_id": "5vms", "request_id": request_id, "csrf_token": alice.csrf()}
    answer = alice.post_form("/plans", form, headers=HTML)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/requests/{request_id}"
    assert sent.calls[-1] == (
        "buy_plan",
        {"request_id": request_id, "address": ALICE_ADDRESS, "plan_id": "5vms"},
    )


def test_a_plan_form_without_the_csrf_token_is_refused(client, sent: Sent) -> None:
    alice = logged_in(client)
    answer = alice.post_form("/plans", {"plan_id": "5vms", "request_id": uuid.uuid4().hex})
    assert answer.status_code == 403
    assert not [c for c in sent.calls if c[0] == "buy_plan"]


@pytest.mark.parametrize(
    "form, field",
    [
        ({"plan_id": "gold", "request_id": "a" * 32}, "plan_id"),
        ({"plan_id": "5vms", "request_id": "nope"}, "request_id"),
    ],
)
def test_a_bad_plan_form_names_the_field(client, form: dict, field: str) -> None:
    alice = logged_in(client)
    answer = alice.post_form("/plans", {**form, "csrf_token": alice.csrf()})
    assert answer.status_code == 400 and answer.json["description"].startswith(field)


def test_starting_a_vm_sends_allocate_vm(client, sent: Sent) -> None:
    alice = logged_in(client)
    request_id = uuid.uuid4().hex
    alice.post_form("/vms", {"request_id": request_id, "csrf_token": alice.csrf()})
    assert sent.calls[-1] == ("allocate_vm", {"request_id": request_id, "address": ALICE_ADDRESS})


def test_a_request_shows_its_outcome_to_its_owner_only(client) -> None:
    alice = logged_in(client)
    bob = logged_in(client, BOB_KEY)
    request_id = uuid.uuid4().hex
    carry_out(
        "buy_plan",
        request_id,
        ALICE_ADDRESS,
        lambda: buy(request_id, ALICE_ADDRESS, "5vms", now=utcnow()),
    )
    assert ActionRequest.get().outcome == "ok"
    assert alice.get(f"/requests/{request_id}").json["outcome"] == "ok"
    assert "Plan bought" in alice.get(f"/requests/{request_id}", headers=HTML).text
    assert bob.get(f"/requests/{request_id}").json == {
        "request_id": request_id,
        "outcome": "pending",
    }


def test_a_refused_request_shows_the_reason(client) -> None:
    alice = logged_in(client)
    Billing.update(balance_cents=100).execute()
    request_id = uuid.uuid4().hex
    carry_out(
        "buy_plan",
        request_id,
        ALICE_ADDRESS,
        lambda: buy(request_id, ALICE_ADDRESS, "5vms", now=utcnow()),
    )
    page = alice.get(f"/requests/{request_id}", headers=HTML).text
    assert "costs $10.00" in page and "nothing was charged" in page


def test_a_custom_amount_wins_over_the_preset(client, sent: Sent) -> None:
    alice = logged_in(client)
    alice.post_form(
        "/topup",
        {
            "amount": "10.00",
            "custom_amount": "12.50",
            "provider": "sandbox",
            "csrf_token": alice.csrf(),
        },
    )
    assert [c[1]["amount_cents"] for c in sent.calls if c[0] == "record_topup"] == [1250]


@pytest.mark.parametrize("custom", ["0.50", "5000", "12.345"])
def test_a_custom_amount_outside_the_limits_is_refused_in_words(client, custom: str) -> None:
    alice = logged_in(client)
    page = alice.post_form(
        "/topup",
        {
            "amount": "10.00",
            "custom_amount": custom,
            "provider": "sandbox",
            "csrf_token": alice.csrf(),
        },
        headers=HTML,
    )
    assert page.status_code == 400
    assert "Enter an amount between $1.00 and $1,000.00" in page.text
    assert f'value="{custom}"' in page.text  # kept


def test_the_email_form_sends_set_email_and_refuses_garbage(client, sent: Sent) -> None:
    alice = logged_in(client)
    saved = alice.post_form(
        "/account/email", {"email": "ada@example.org", "csrf_token": alice.csrf()}, headers=HTML
    )
    assert saved.status_code == 303
    assert sent.calls[-1] == ("set_email", {"address": ALICE_ADDRESS, "email": "ada@example.org"})
    bad = alice.post_form("/account/email", {"email": "not an email", "csrf_token": alice.csrf()})
    assert bad.status_code == 400 and bad.json["description"].startswith("email:")


def test_the_email_form_uses_the_shared_check(client, sent: Sent) -> None:
    alice = logged_in(client)
    markup = {"email": "[bold]ada[/]@example.org", "csrf_token": alice.csrf()}
    bad = alice.post_form("/account/email", markup)
    assert bad.status_code == 400 and "before the @" in bad.json["description"]
    form = {"email": " Ada@Example.ORG ", "csrf_token": alice.csrf()}
    assert alice.post_form("/account/email", form, headers=HTML).status_code == 303
    assert sent.calls[-1] == ("set_email", {"address": ALICE_ADDRESS, "email": "Ada@example.org"})


def test_set_email_sets_and_clears_the_address(sqlite_db: str) -> None:
    from actors.accounts import set_email

    Account.create(address=ALICE_ADDRESS)
    assert set_email(ALICE_ADDRESS, "ada@example.org") == "set"
    assert Account.get().email == "ada@example.org"
    assert set_email(ALICE_ADDRESS, "nope") == "refused"
    assert set_email(ALICE_ADDRESS, "ada@[127.0.0.1]") == "refused"
    assert set_email(ALICE_ADDRESS, None) == "set" and Account.get().email is None
    assert set_email(ALICE_ADDRESS, None) == "unchanged"
