"""The account side of the portal in headless Chromium against a running gateway and
worker: form mistakes kept on the page (top-up, plans, low-balance threshold, email), a
pending top-up cancelled, an email verified by the link the development sender wrote to
its folder, the sessions list and "log out everywhere" (the other browser is logged out).

Every page is taken at 390 and 1440 px wide (``test-artifacts/portal/``, not committed),
axe-core finds no serious or critical violation on it, and none is wider than the 390 px
viewport. A last test visits every page a logged-in user can reach (the gateway's GET
routes, read with ``falcon.inspect``) at 390 px.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from falcon.inspect import inspect_routes

import actors
import messages
from models import ActionRequest, Billing, LedgerEntry, PaymentEvent, TopUp
from runtime.gateway import build_gateway
from settings import Settings
from tests.support.axe import blocking_violations
from tests.support.browser import launched_chromium, usage_records
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, prove_with_key
from tests.support.procs import hero_admin, wait_until
from tests.support.stack import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"

#: GET routes that are not pages a user reads: probes, JSON, downloads, the webhook.
NOT_PAGES = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/auth/service",
    "/auth/session",
    "/statement.csv",
    "/payments/{payment_id:int(min=1)}/receipt.pdf",
}


#: Pages visited with an id made up (not the account's): their 404 page is checked too.
MADE_UP = {"/auth/challenges/{challenge_id}", "/kyc/sandbox/{scan_ref}"}


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium, launched as the journey launches it."""
    with launched_chromium() as browser:
        yield browser


class Pages:
    """One browser tab with the checks every page of this file gets."""

    def __init__(self, browser: Any, url: str) -> None:
        self.web = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        self.url = url
        self.problems: list[str] = []
        self.inaccessible: list[str] = []
        self.web.on("pageerror", lambda e: self.problems.append(str(e)))

    def goto(self, path: str) -> None:
        self.web.goto(self.url + path)

    def both_widths(self, name: str) -> None:
        """Screenshots at 1440 and 390 px; axe-core; nothing wider than 390 px."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for width in (1440, 390):
            self.web.set_viewport_size({"width": width, "height": 900})
            self.web.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        self.assert_narrow()
        self.inaccessible.extend(blocking_violations(self.web))
        self.web.set_viewport_size({"width": 1200, "height": 900})

    def assert_narrow(self) -> None:
        wide = self.web.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{self.web.url} is {wide} px wide at 390"

    def log_in(self, key: Any = ALICE_KEY, address: str = ALICE_ADDRESS) -> None:
        """Through the login page, the key proof posted as ``hero-login prove`` does."""
        from playwright.sync_api import expect

        self.goto("/login")
        self.web.get_by_label("Mycelium address").fill(address)
        self.web.get_by_role("button", name="Get a login code").click()
        expect(self.web.locator("#code")).to_be_visible()
        challenge = {
            "id": self.web.url.split("/auth/challenges/")[1].split("?")[0],
            "code": self.web.locator("#code").inner_text().strip(),
            "service_pubkey": self.web.locator("#service-pubkey").inner_text().strip(),
        }
        assert prove_with_key(self.url, challenge, key).status_code == 200
        self.web.wait_for_url(f"{self.url}/", timeout=30_000)
        wait_until(
            lambda: Billing.select().count() >= 1, timeout=30, what="the account to be set up"
        )
        self.web.reload()  # the page drawn while the account was set up refreshes itself


def verification_link(outbox: Path) -> str:
    """The link of the newest verification mail the development sender wrote."""
    for mail in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
        text = mail.read_text().replace("=\n", "").replace("=3D", "=")
        found = re.search(r"https?://\S+/account/email/verify\?token=[\w-]+", text)
        if found:
            return found.group(0)
    return ""


def test_account_forms_topups_email_link_and_sessions(
    pg_stack: Stack, chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url = pg_stack.gateway(HERO_SANDBOX_PAYMENTS="true")
    outbox = tmp_path / "outbox"
    pg_stack.worker(HERO_OUTBOX_DIR=str(outbox), HERO_PUBLIC_URL=url)
    tab = Pages(chromium, url)
    web = tab.web
    tab.log_in()
    tab.both_widths("01-dashboard")

    # A top-up amount out of bounds comes back on the page, kept, the problem beside it
    tab.goto("/topup")
    web.locator("#custom_amount").fill("2000")
    web.get_by_label("Pay with").select_option("sandbox")
    web.get_by_role("button", name="Continue to payment").click()
    expect(web.locator("#amount-error")).to_contain_text("Enter an amount between $1.00")
    expect(web.locator("#custom_amount")).to_have_value("2000")
    expect(web.locator("#custom_amount")).to_have_attribute("aria-invalid", "true")
    tab.both_widths("02-topup-amount-error")

    # A top-up started and left unpaid is listed, then cancelled
    web.locator("#custom_amount").fill("12.50")
    web.get_by_role("button", name="Continue to payment").click()
    expect(web.get_by_role("button", name="Pay $12.50")).to_be_visible(timeout=30_000)
    tab.goto("/topup")
    row = web.locator("#unpaid-topups tbody tr").first
    expect(row).to_contain_text("$12.50")
    tab.both_widths("03-topup-unpaid")
    topup_id = (row.get_attribute("id") or "").removeprefix("topup-")
    web.get_by_role("button", name=f"Cancel: $12.50 top-up {topup_id}").click()
    expect(web.locator("#cancelled-notice")).to_contain_text("is cancelled", timeout=30_000)
    assert TopUp.get(TopUp.public_id == topup_id).status == "cancelled"
    tab.both_widths("04-topup-cancelled")

    # Pay a top-up, so that plans can be bought and the runway shows
    web.get_by_label("$25.00").check()
    web.get_by_label("Pay with").select_option("sandbox")
    web.get_by_role("button", name="Continue to payment").click()
    web.get_by_role("button", name="Pay $25.00").click()
    expect(web.get_by_role("heading", name="Payment received")).to_be_visible(timeout=30_000)

    # A Plans form sent out of date comes back as the page, the problem beside its button
    tab.goto("/plans")
    web.locator("#plan-5vms input[name=request_id]").evaluate("e => { e.value = 'stale'; }")
    web.locator("#buy-5vms").click()
    problem = web.locator("#plan-5vms #problem")
    expect(problem).to_contain_text("out of date, so nothing was done")
    expect(web.locator("#form-problems")).to_be_visible()
    tab.both_widths("05-plans-form-problem")
    web.locator("#buy-5vms").click()
    expect(web.get_by_role("heading", name="Plan bought")).to_be_visible(timeout=30_000)

    # The low-balance threshold: a bad value kept with its problem, then a good one saved
    tab.goto("/")
    web.locator("#threshold").fill("lots")
    web.locator("#low-balance").get_by_role("button", name="Save").click()
    expect(web.locator("#threshold-error")).to_be_visible()
    expect(web.locator("#threshold")).to_have_value("lots")
    tab.both_widths("06-low-balance-error")
    web.locator("#threshold").fill("7.50")
    web.locator("#low-balance").get_by_role("button", name="Save").click()
    wait_until(
        lambda: Billing.get().low_balance_cents == 750, timeout=30, what="the threshold saved"
    )
    tab.goto("/")
    expect(web.locator("#threshold")).to_have_value("7.50")

    # An email: a mistake kept on the page, then one verified by the link mailed to it
    tab.goto("/account")
    web.locator("#email-input").fill("alice at example")
    web.locator("#save-email").click()
    expect(web.locator("#email-error")).to_be_visible()
    expect(web.locator("#email-input")).to_have_value("alice at example")
    tab.both_widths("07-account-email-error")
    web.locator("#email-input").fill("alice@example.org")
    web.locator("#save-email").click()
    wait_until(lambda: verification_link(outbox) != "", timeout=30, what="the link's mail")
    link = verification_link(outbox)
    assert link.startswith(url + "/account/email/verify?token=")
    web.goto(link)
    web.locator("#confirm-email").click()
    expect(web.get_by_role("heading", name="Email confirmed")).to_be_visible(timeout=30_000)
    tab.both_widths("08-email-confirmed")
    tab.goto("/account")
    expect(web.locator("#email-state")).to_have_attribute("data-verified", "yes")

    # Two browsers logged in; "log out everywhere" from one logs the other out too
    other = Pages(chromium, url)
    other.log_in()
    tab.goto("/account")
    expect(web.locator("#session-list tbody tr")).to_have_count(2)
    expect(web.locator("#session-list")).to_contain_text("(this browser)")
    tab.both_widths("09-account-sessions")
    web.locator("#logout-everywhere").click()
    web.wait_for_url(re.compile(r".*/login.*"))
    other.goto("/account")
    assert "/login" in other.web.url
    other.both_widths("10-logged-out-elsewhere")

    assert tab.problems + other.problems == []
    inaccessible = tab.inaccessible + other.inaccessible
    assert inaccessible == [], "\n".join(inaccessible)


def test_no_page_a_user_reaches_is_wider_than_a_phone(
    pg_stack: Stack, chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url = pg_stack.gateway(HERO_SANDBOX_PAYMENTS="true")
    pg_stack.worker()
    added = hero_admin("pool", "add", "vm-301", "--address", "10.20.0.31", env=pg_stack.admin_env())
    assert added.returncode == 0, added.stdout + added.stderr
    tab = Pages(chromium, url)
    web = tab.web
    tab.log_in()

    # An account with a payment, an unpaid top-up, a plan, a VM and a usage entry
    tab.goto("/topup")
    web.get_by_label("$25.00").check()
    web.get_by_label("Pay with").select_option("sandbox")
    web.get_by_role("button", name="Continue to payment").click()
    web.get_by_role("button", name="Pay $25.00").click()
    expect(web.get_by_role("heading", name="Payment received")).to_be_visible(timeout=30_000)
    tab.goto("/topup")
    web.get_by_label("$10.00").check()
    web.get_by_role("button", name="Continue to payment").click()
    expect(web.get_by_role("button", name="Pay $10.00")).to_be_visible(timeout=30_000)
    tab.goto("/plans")
    web.locator("#buy-5vms").click()
    expect(web.get_by_role("heading", name="Plan bought")).to_be_visible(timeout=30_000)
    tab.goto("/plans")
    web.locator("#start-vm").click()
    expect(web.get_by_role("heading", name="VM started")).to_be_visible(timeout=30_000)
    actors.build_broker(pg_stack.env["HERO_AMQP_URL"])
    try:
        actors.send(messages.ApplyUsageBatch(records=usage_records(6), via="nats"))
    finally:
        actors.build_broker(None)
    wait_until(
        lambda: LedgerEntry.select().where(LedgerEntry.kind == "usage").exists(),
        timeout=30,
        what="the usage to be charged",
    )
    ids = {
        "payment_id": str(PaymentEvent.get(PaymentEvent.kind == "payment").id),
        "entry_id": str(LedgerEntry.get(LedgerEntry.kind == "usage").id),
        "request_id": ActionRequest.select().order_by(ActionRequest.id).first().request_id,
        "topup_id": TopUp.get(TopUp.status != "paid").public_id,
        "challenge_id": "ch_" + uuid.uuid4().hex,
        "provider": "sandbox",
        "scan_ref": "no-such-verification",
    }

    # Every GET route of the gateway as this stack configures it
    app = build_gateway(Settings.from_env({**pg_stack.env, "HERO_SANDBOX_PAYMENTS": "true"}))
    pages = sorted(
        route.path
        for route in inspect_routes(app)
        if any(m.method == "GET" and not m.internal for m in route.methods)
        and route.path not in NOT_PAGES
    )
    assert {"/", "/account", "/plans", "/statement", "/topup"} <= set(pages)
    web.set_viewport_size({"width": 390, "height": 900})
    seen = []
    for template in pages:
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: ids[m.group(1)], template)
        answer = web.goto(url + path)
        assert answer is not None and answer.status < 500, f"{path}: {answer and answer.status}"
        tab.assert_narrow()
        seen.append((template, answer.status))
    assert len(seen) == len(pages) and tab.problems == []
    # Only the ids made up here are not found; every other page is there for this user
    missing = [(t, status) for t, status in seen if status != 200 and t not in MADE_UP]
    assert missing == [], seen
