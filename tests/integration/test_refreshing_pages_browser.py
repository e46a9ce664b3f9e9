"""Pages that wait for something, in headless Chromium against a running gateway, taken
WHILE they are still looking again: each shows "Checking again in Ns" with a Pause button
and a "Check now" link, has no ``<meta http-equiv="refresh">``, and axe-core finds no
serious or critical violation on it (its meta-refresh rule included). Pause holds a page;
left alone, a page moves on to its next address by itself.

Screenshots go to ``test-artifacts/refreshing/`` (not committed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import Any

from models import Account, Billing
from models.email_prefs import EmailVerification
from models.kyc import KycVerification
from tests.support.axe import blocking_violations
from tests.support.browser import page
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, prove_with_key
from tests.support.procs import wait_until
from tests.support.stack import Stack
from wire.times import utcnow

__all__ = ["page"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "refreshing"


def log_in(web: Any, url: str) -> None:
    """Through the login page, the key proof posted as ``hero-login prove`` does."""
    from playwright.sync_api import expect

    web.goto(f"{url}/login")
    web.get_by_label("Mycelium address").fill(ALICE_ADDRESS)
    web.get_by_role("button", name="Get a login code").click()
    expect(web.locator("#code")).to_be_visible()
    challenge = {
        "id": web.url.split("/auth/challenges/")[1].split("?")[0],
        "code": web.locator("#code").inner_text().strip(),
        "service_pubkey": web.locator("#service-pubkey").inner_text().strip(),
    }
    assert prove_with_key(url, challenge, ALICE_KEY).status_code == 200
    web.wait_for_url(f"{url}/", timeout=30_000)


def check_while_refreshing(web: Any, name: str) -> list[str]:
    """The page is still counting down: its control, no meta refresh, axe-core, screenshot."""
    from playwright.sync_api import expect

    expect(web.locator("#refresher-status")).to_contain_text("Checking again in")
    expect(web.locator("#refresher-pause")).to_be_visible()
    expect(web.locator("#refresher-now")).to_have_text("Check now")
    assert web.locator('meta[http-equiv="refresh" i]').count() == 0, web.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return blocking_violations(web)


def test_waiting_pages_count_down_can_be_paused_and_pass_axe(pg_stack: Stack, page: object) -> None:
    from playwright.sync_api import expect

    web: Any = page
    web.set_default_timeout(30_000)
    url = pg_stack.gateway(
        HERO_SANDBOX_PAYMENTS="true",
        HERO_KYC_PROVIDER="sandbox",
        HERO_IDENFY_SIGNING_KEY="kyc-sandbox-signing-key",
    )
    problems: list[str] = []
    web.on("pageerror", lambda e: problems.append(str(e)))
    inaccessible: list[str] = []

    # No worker yet: the account is being set up, and the pages say so, looking again
    log_in(web, url)
    inaccessible += check_while_refreshing(web, "dashboard-setting-up")
    web.goto(f"{url}/topup")
    inaccessible += check_while_refreshing(web, "topup-setting-up")

    # Pause holds the page; Resume starts counting again
    web.locator("#refresher-pause").click()
    expect(web.locator("#refresher-status")).to_contain_text("Paused")
    expect(web.locator("#refresher-pause")).to_have_text("Resume")
    marker = web.evaluate("() => (window.heroMarker = Math.random())")
    web.wait_for_timeout(4_500)  # more than two looks' worth
    assert web.evaluate("() => window.heroMarker") == marker  # the page was not reloaded
    web.locator("#refresher-pause").click()
    expect(web.locator("#refresher-status")).to_contain_text("Checking again in")

    # Once the worker made the account, the dashboard moves on by itself
    web.goto(f"{url}/")
    pg_stack.worker()
    wait_until(lambda: Billing.select().count() >= 1, timeout=30, what="the account")
    expect(web.locator("#balance")).to_be_visible()
    account = Account.get(Account.address == ALICE_ADDRESS)

    # A top-up and a request nobody knows yet: looked for with a counted address
    web.goto(f"{url}/topups/HERONEVER")
    inaccessible += check_while_refreshing(web, "topup-status")
    expect(web.locator("#refresher-now")).to_have_attribute("href", "/topups/HERONEVER?waited=1")
    web.wait_for_url(f"{url}/topups/HERONEVER?waited=1")  # left alone, it looked again
    request_id = uuid.uuid4().hex
    web.goto(f"{url}/requests/{request_id}")
    inaccessible += check_while_refreshing(web, "request")
    web.goto(f"{url}/sandbox/checkout/HERONONE")
    inaccessible += check_while_refreshing(web, "sandbox-checkout")

    # Identity verification under way, and an email link confirmed but not yet marked
    KycVerification.create(
        account=account, client_id=uuid.uuid4().hex, provider="sandbox", status="pending"
    )
    web.goto(f"{url}/kyc")
    inaccessible += check_while_refreshing(web, "kyc-pending")
    Account.update(email="alice@example.org").where(Account.id == account.id).execute()
    hashed = hashlib.sha256(b"a-token").hexdigest()
    EmailVerification.create(
        account=account,
        email="alice@example.org",
        token_hash=hashed,
        expires_at=utcnow() + dt.timedelta(days=1),
    )
    web.goto(f"{url}/account/email/verify?check={hashed}")
    inaccessible += check_while_refreshing(web, "email-verify")

    assert inaccessible == []
    assert problems == []
