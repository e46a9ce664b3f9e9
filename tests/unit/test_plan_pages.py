"""The Plans page: plans named for people, disabled buttons that say why, upgrade,
renewal and VM release through the real routes (the gateway only sends messages)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.plan_changes import release, set_renewal, upgrade
from gateway.app import DEFAULT_PLAN_LIST
from gateway.console import queries
from gateway.templates import Renderer
from models import PlanSubscription, VmPoolSlot
from models.admin_reads import PAGE_ROWS, ledger_page
from models.credit import CreditState
from tests.support.login import ALICE_ADDRESS, BOB_KEY
from tests.support.plans import act, fund, start_vm, with_plan
from tests.support.web import HTML, Clock, Sent, account_of, logged_in, make_app
from wire.times import utcnow


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(sqlite_db: str, sent: Sent) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), sent))


def test_plans_are_named_for_people_with_their_price_per_vm(client) -> None:
    page = logged_in(client).get("/plans", headers=HTML)
    assert page.status_code == 200
    assert "5 VMs for 30 days" in page.text and "10 VMs for 30 days" in page.text
    assert "$2.00 per VM" in page.text
    assert page.text.count("<h1") == 1


def test_a_disabled_buy_button_says_why(client) -> None:
    alice = logged_in(client)
    fund(300)
    page = alice.get("/plans", headers=HTML).text
    assert re.search(r'id="buy-5vms"[^>]*disabled', page)
    assert "Your balance is $3.00; this plan costs $10.00. Top up to buy it." in page
    assert "Buy a plan to start VMs." in page


def test_with_a_plan_the_bigger_one_is_an_upgrade_priced_pro_rata(client) -> None:
    alice = logged_in(client)
    with_plan()
    page = alice.get("/plans", headers=HTML).text
    assert 'action="/plans/upgrade"' in page and 'id="upgrade-10vms"' in page
    # bought just now: nearly the whole difference, $10.00 less a fraction, rounded down
    assert re.search(r"Upgrade now for <strong>\$(9\.99|10\.00)</strong>", page)
    assert "This is your plan." in page
    assert "Renewal is <strong>off</strong>" in page


def test_a_full_quota_and_suspended_vms_say_why_start_is_off(client) -> None:
    alice = logged_in(client)
    with_plan()
    for i in range(5):
        start_vm(f"vm-{i}")
    page = alice.get("/plans", headers=HTML).text
    assert re.search(r'id="start-vm"[^>]*disabled', page)
    assert "All 5 VMs of your plan are in use. Release one, or upgrade for more." in page
    CreditState.update(state="suspended", suspended_at=utcnow()).where(
        CreditState.account == account_of()
    ).execute()
    assert "Your VMs are suspended" in alice.get("/plans", headers=HTML).text


def test_each_vm_shows_its_address_and_state(client) -> None:
    alice = logged_in(client)
    with_plan()
    start_vm("vm-a", "10.1.0.7")
    start_vm("vm-b", None)
    VmPoolSlot.update(status="suspended").where(VmPoolSlot.vm_id == "vm-b").execute()
    page = alice.get("/plans", headers=HTML).text
    assert "10.1.0.7" in page and "Running" in page
    assert "not assigned yet" in page and "Suspended: your credit ran out" in page
    assert 'id="release-vm-a"' in page


def test_upgrade_renewal_and_release_send_one_message_each(client, sent: Sent) -> None:
    alice = logged_in(client)
    ids = [uuid.uuid4().hex for _ in range(3)]
    forms: list[tuple[str, dict[str, str], str, dict[str, Any]]] = [
        ("/plans/upgrade", {"plan_id": "10vms"}, "upgrade_plan", {"plan_id": "10vms"}),
        ("/plans/renewal", {"renew": "on"}, "set_plan_renewal", {"on": True}),
        ("/vms/release", {"vm_id": "vm-a"}, "release_vm", {"vm_id": "vm-a"}),
    ]
    for request_id, (path, form, actor, args) in zip(ids, forms, strict=True):
        answer = alice.post_form(
            path, {**form, "request_id": request_id, "csrf_token": alice.csrf()}, headers=HTML
        )
        assert answer.status_code == 303 and answer.headers["Location"] == f"/requests/{request_id}"
        assert sent.calls[-1] == (
            actor,
            {"request_id": request_id, "address": ALICE_ADDRESS, **args},
        )


@pytest.mark.parametrize(
    "path, form, field",
    [
        ("/plans/upgrade", {"plan_id": "gold"}, "plan_id"),
        ("/plans/renewal", {"renew": "maybe"}, "renew"),
        ("/vms/release", {"vm_id": ""}, "vm_id"),
        ("/vms/release", {"vm_id": "x" * 101}, "vm_id"),
        ("/vms/release", {"vm_id": "vm-a", "request_id": "nope"}, "request_id"),
    ],
)
def test_a_bad_change_form_names_the_field(client, sent: Sent, path, form, field) -> None:
    alice = logged_in(client)
    body = {"request_id": uuid.uuid4().hex, **form, "csrf_token": alice.csrf()}
    answer = alice.post_form(path, body)
    assert answer.status_code == 400 and answer.json["description"].startswith(field)
    assert [c for c in sent.calls if c[0] != "ensure_account"] == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(vm_id=st.text(max_size=120), renew=st.text(max_size=10), plan_id=st.text(max_size=20))
def test_change_routes_never_fail_on_any_text(client, vm_id: str, renew: str, plan_id: str) -> None:
    # one login for all examples (the client fixture is shared by them)
    alice = client.__dict__.setdefault("alice", None) or logged_in(client)
    client.__dict__["alice"] = alice
    for path, form in (
        ("/vms/release", {"vm_id": vm_id}),
        ("/plans/renewal", {"renew": renew}),
        ("/plans/upgrade", {"plan_id": plan_id}),
    ):
        body = {**form, "request_id": uuid.uuid4().hex, "csrf_token": alice.csrf()}
        assert alice.post_form(path, body).status_code in (202, 400)


def test_the_outcomes_read_as_sentences(client) -> None:
    alice = logged_in(client)
    with_plan()
    start_vm("vm-a")
    now = utcnow()
    done = {
        "upgrade_plan": lambda r: upgrade(r, ALICE_ADDRESS, "10vms", now=now),
        "set_renewal": lambda r: set_renewal(r, ALICE_ADDRESS, True, now=now),
        "release_vm": lambda r: release(r, ALICE_ADDRESS, "vm-a", now=now),
    }
    pages = {}
    for kind, action in done.items():
        pages[kind] = alice.get(f"/requests/{act(kind, action)['request_id']}", headers=HTML).text
    assert "Plan upgraded" in pages["upgrade_plan"] and "10 VMs" in pages["upgrade_plan"]
    assert "Renewal on" in pages["set_renewal"]
    assert "VM released" in pages["release_vm"] and "vm-a" in pages["release_vm"]
    assert "Renewal is <strong>on</strong>" in alice.get("/plans", headers=HTML).text


def test_another_account_sees_none_of_alices_vms(client) -> None:
    logged_in(client)
    with_plan()
    start_vm("vm-secret")
    bob = logged_in(client, BOB_KEY)
    assert "vm-secret" not in bob.get("/plans", headers=HTML).text


def test_an_unknown_request_is_said_so_and_its_page_stops_refreshing(client) -> None:
    alice = logged_in(client)
    request_id = uuid.uuid4().hex
    first = alice.get(f"/requests/{request_id}", headers=HTML).text
    assert f'data-refresh-seconds="1" data-refresh-url="/requests/{request_id}?waited=1"' in first
    later = alice.get(f"/requests/{request_id}?waited=59", headers=HTML).text
    assert "?waited=60" in later and "Working on it" in later
    gone = alice.get(f"/requests/{request_id}?waited=60", headers=HTML).text
    assert "We have no record of this request" in gone and 'id="refresher"' not in gone
    for odd in ("-1", "abc", "9" * 50):
        page = alice.get(f"/requests/{request_id}?waited={odd}", headers=HTML)
        assert page.status_code == 200 and "?waited=1" in page.text
    assert alice.get(f"/requests/{request_id}?waited=60").json["outcome"] == "pending"


def test_the_dashboard_names_the_plan_as_the_catalogue_does(client) -> None:
    alice = logged_in(client)
    with_plan()
    page = alice.get("/", headers=HTML).text
    assert re.search(r'id="plan">5 VMs for 30 days</p>', page), page


def test_a_plan_no_longer_on_sale_is_named_by_its_quota(client) -> None:
    # Given a plan bought under an id the catalogue no longer offers
    alice = logged_in(client)
    with_plan()
    PlanSubscription.update(plan_id="legacy3", vm_quota_total=3).execute()
    # Then the dashboard and the Plans page say what it holds, never the bare id
    assert re.search(r'id="plan">3 VMs</p>', alice.get("/", headers=HTML).text)
    plans_page = alice.get("/plans", headers=HTML).text
    assert "You have <strong>3 VMs</strong>" in plans_page and "legacy3" not in plans_page


def test_the_console_account_page_keeps_the_id_and_adds_the_name(sqlite_db: str) -> None:
    with_plan()
    PlanSubscription.create(
        request_id="old",
        account=account_of(),
        plan_id="legacy1",
        price_cents=100,
        vm_quota_total=1,
        period_end=utcnow(),
        status="expired",
    )
    detail = {
        **queries.account_detail(account_of(), kyc_required_for="none"),
        "ledger": ledger_page(account_of(), limit=PAGE_ROWS, before=None),
        "account_url": "/admin/accounts/x",
        "confirm_cents": 100_00,
    }
    page = Renderer(DEFAULT_PLAN_LIST).render(
        "console_account.html", operator=ALICE_ADDRESS, csrf_token="t", **detail
    )
    assert "<dd>5vms: 5 VMs for 30 days (VMs" in page
    assert "<td>5vms: 5 VMs for 30 days</td>" in page and "<td>legacy1: 1 VM</td>" in page
