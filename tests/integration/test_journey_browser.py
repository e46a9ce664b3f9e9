"""One continuous journey in headless Chromium against a running gateway and worker:
log in with the key proof, top up with the sandbox, buy the 5vms plan, start a VM from the
pool, see usage in the chart and the ledger as the balance drops, log out.

Screenshots of every page go to ``test-artifacts/journey/`` (not committed).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import actors
from models import Billing, UsageRecord
from tests.conftest import need
from tests.integration.conftest import Stack
from tests.support.login import ALICE_ADDRESS, ALICE_KEY
from tests.support.procs import BIN, hero_admin, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "journey"


@pytest.fixture
def page() -> Iterator[object]:
    need("Chromium (apt-get install chromium)", CHROMIUM is not None)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


def usage_records(count: int) -> list[dict]:
    moments = [dt.datetime.now(dt.UTC) - dt.timedelta(days=d, minutes=5) for d in range(3)]
    return [
        {
            "key": f"node-a:{i}",
            "node": "node-a",
            "user": ALICE_ADDRESS,
            "resource_kind": "llm_token" if i % 2 else "vm_hour",
            "applies_to": "llm" if i % 2 else "vm",
            "quantity": 100,
            "amount_cents": 7,
            "occurred_at": moments[i % 3].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for i in range(count)
    ]


def test_a_user_logs_in_tops_up_buys_a_plan_starts_a_vm_and_sees_usage(
    pg_stack: Stack, page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    web: Page = page  # type: ignore[assignment]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    web.on("pageerror", lambda e: problems.append(str(e)))
    web.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    def shot(name: str) -> None:
        web.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    url = pg_stack.gateway(HERO_SANDBOX_PAYMENTS="true")
    pg_stack.worker()
    added = hero_admin(
        "pool", "add", "vm-101", "--address", "10.20.0.101", env=pg_stack.admin_env()
    )
    assert added.returncode == 0, added.stdout + added.stderr
    key_file = tmp_path / "priv_key.bin"
    key_file.write_bytes(bytes(ALICE_KEY))

    # Log in with the key proof
    web.goto(f"{url}/")
    assert "/login" in web.url
    shot("01-login")
    web.get_by_label("Mycelium address").fill(ALICE_ADDRESS)
    web.get_by_role("button", name="Get a login code").click()
    code = web.locator("#code").inner_text().strip()
    shot("02-login-code")
    proved = subprocess.run(
        [str(BIN / "hero-login"), "prove", code, "--key", str(key_file), "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proved.returncode == 0, proved.stdout + proved.stderr
    web.wait_for_url(f"{url}/", timeout=30_000)
    expect(web.locator("#viewer-address")).to_have_text(ALICE_ADDRESS)
    expect(web.locator("#balance")).to_have_text("$0.00", timeout=30_000)
    shot("03-dashboard-empty")

    # Top up $25 with the sandbox provider
    web.locator("#topup-link").click()
    web.get_by_label("$25.00").check()
    web.get_by_label("Pay with").select_option("sandbox")
    shot("04-topup")
    web.get_by_role("button", name="Continue to payment").click()
    expect(web.get_by_role("button", name="Pay $25.00")).to_be_visible(timeout=30_000)
    shot("05-sandbox-checkout")
    web.get_by_role("button", name="Pay $25.00").click()
    expect(web.get_by_role("heading", name="Payment received")).to_be_visible(timeout=30_000)
    shot("06-topup-paid")
    web.goto(f"{url}/")
    expect(web.locator("#balance")).to_have_text("$25.00")

    # Buy the 5vms plan
    web.get_by_role("link", name="Plans & VMs").click()
    shot("07-plans")
    web.locator("#buy-5vms").click()
    expect(web.get_by_role("heading", name="Plan bought")).to_be_visible(timeout=30_000)
    shot("08-plan-bought")

    # Start a VM from the pool
    web.get_by_role("link", name="Start a VM").click()
    web.locator("#start-vm").click()
    expect(web.get_by_role("heading", name="VM started")).to_be_visible(timeout=30_000)
    expect(web.locator("#vm-id")).to_have_text("vm-101")
    shot("09-vm-started")
    web.goto(f"{url}/")
    expect(web.locator("#quota")).to_have_text("1 of 5")
    expect(web.locator("#vms")).to_contain_text("vm-101")
    expect(web.locator("#balance")).to_have_text("$15.00")

    # Usage reported for the user is charged by the real actors and shows up
    actors.configure_broker(pg_stack.env["HERO_AMQP_URL"])
    try:
        actors.send("apply_usage_batch", records=usage_records(12), via="nats")
    finally:
        actors.configure_broker(None)
    wait_until(lambda: UsageRecord.select().count() == 12, what="the usage to be charged")
    balance = Billing.get().balance_cents
    assert balance == 1500 - 12 * 7  # first paid today: no discount yet
    web.reload()
    expect(web.locator("#balance")).to_have_text(f"${balance // 100}.{balance % 100:02d}")
    expect(web.locator("#ledger")).to_contain_text("Usage: 12 records")
    assert web.locator("svg.chart rect").count() >= 3
    shot("10-dashboard-usage")
    web.get_by_role("link", name="Payments").first.click()
    expect(web.locator("#payments")).to_contain_text("$25.00")
    shot("11-payments")

    # Log out
    web.get_by_role("button", name="Log out").click()
    web.wait_for_url(re.compile(r".*/login.*"))
    web.goto(f"{url}/plans")
    assert "/login" in web.url
    shot("12-logged-out")
    assert problems == []
