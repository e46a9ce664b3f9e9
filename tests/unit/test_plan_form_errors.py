"""A Plans page form with a mistake comes back as the Plans page, answered 400, with the
problem in plain words beside the form it was made on; nothing is sent."""

from __future__ import annotations

import html
import re
import uuid

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.plans import start_vm, with_plan
from tests.support.web import HTML, Clock, Sent, logged_in, make_app


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(sqlite_db: str, sent: Sent) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), sent))


def form_holding(page: str, form_id: str) -> str:
    """The HTML of the form *form_id* on *page*."""
    match = re.search(rf'<form [^>]*id="{re.escape(form_id)}".*?</form>', page, re.S)
    assert match, f"no form {form_id} on the page"
    return match.group(0)


def problem_of(page: str) -> str:
    found = [
        html.unescape(f)
        for f in re.findall(r'<p class="field-error" id="problem">([^<]*)</p>', page)
    ]
    assert len(found) == 1, found
    return found[0]


def assert_plans_page(answer: falcon.testing.Result) -> str:
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/html")
    page = answer.text
    assert page.count("<h1") == 1 and "<h1>Plans</h1>" in page
    assert 'class="card error"' not in page
    assert 'role="alert" id="form-problems"' in page and 'href="#problem"' in page
    return page


CASES = [
    # path, form, the form the problem sits in, words it says
    ("/plans", {"plan_id": "5vms", "request_id": "old"}, "plan-5vms", "out of date"),
    ("/plans/upgrade", {"plan_id": "10vms", "request_id": ""}, "plan-10vms", "Press the button"),
    ("/plans/renewal", {"renew": "maybe"}, "renewal", "turn renewal on or off"),
    ("/plans/renewal", {"renew": "on", "request_id": "x"}, "renewal", "out of date"),
    ("/vms", {"request_id": "nope"}, "start-form", "out of date"),
    ("/vms/release", {"vm_id": "vm-a", "request_id": "no"}, "release-form-vm-a", "out of date"),
]


@pytest.mark.parametrize("path, form, form_id, words", CASES)
def test_a_mistake_shows_beside_its_form(client, sent: Sent, path, form, form_id, words) -> None:
    alice = logged_in(client)
    with_plan()
    start_vm("vm-a")
    before = len(sent.calls)
    body = {"request_id": uuid.uuid4().hex, **form, "csrf_token": alice.csrf()}
    page = assert_plans_page(alice.post_form(path, body, headers=HTML))
    assert 'id="problem"' in form_holding(page, form_id)
    assert words in problem_of(page)
    assert sent.calls[before:] == []


def test_an_unknown_plan_is_said_above_the_plans(client, sent: Sent) -> None:
    alice = logged_in(client)
    body = {"plan_id": "gold", "request_id": uuid.uuid4().hex, "csrf_token": alice.csrf()}
    page = assert_plans_page(alice.post_form("/plans", body, headers=HTML))
    assert problem_of(page) == "There is no plan 'gold'; choose one of the plans here."
    assert page.index('id="problem"') < page.index('<div class="plans">')


@pytest.mark.parametrize("vm_id", ["", "vm-not-mine", "x" * 101])
def test_a_release_of_no_vm_of_the_page_is_said_above_the_vms(client, vm_id: str) -> None:
    alice = logged_in(client)
    with_plan()
    start_vm("vm-a")
    body = {"vm_id": vm_id, "request_id": "stale", "csrf_token": alice.csrf()}
    page = assert_plans_page(alice.post_form("/vms/release", body, headers=HTML))
    assert page.index("<h2>VMs</h2>") < page.index('id="problem"') < page.index('id="start-form"')


def test_the_redrawn_page_works_at_once(client, sent: Sent) -> None:
    alice = logged_in(client)
    with_plan()
    body = {"renew": "on", "request_id": "stale", "csrf_token": alice.csrf()}
    page = assert_plans_page(alice.post_form("/plans/renewal", body, headers=HTML))
    fresh = re.search(r'name="request_id" value="([a-f0-9]{32})"', form_holding(page, "renewal"))
    assert fresh
    again = {"renew": "on", "request_id": fresh.group(1), "csrf_token": alice.csrf()}
    answer = alice.post_form("/plans/renewal", again, headers=HTML)
    assert answer.status_code == 303 and sent.calls[-1][0] == "set_plan_renewal"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/plans", "/plans/upgrade", "/plans/renewal", "/vms", "/vms/release"]),
    fields=st.dictionaries(
        st.sampled_from(["plan_id", "renew", "vm_id", "request_id"]), st.text(max_size=40)
    ),
)
def test_any_form_is_a_redirect_or_the_plans_page(client, path: str, fields: dict) -> None:
    alice = client.__dict__.get("alice") or logged_in(client)
    client.__dict__["alice"] = alice
    answer = alice.post_form(path, {**fields, "csrf_token": alice.csrf()}, headers=HTML)
    if answer.status_code != 303:
        assert_plans_page(answer)
        problem_of(answer.text)
