"""One continuous journey in headless Chromium against a running gateway and worker:
log in with the key proof, top up with the sandbox, buy the 5vms plan, start a VM from the
pool, see usage in the chart and the ledger as the balance drops, read the statement with a
filter and download its CSV, open the payment's receipt and its PDF (read back for the
amount), see that another account cannot open them, log out.

The portal's pages are also taken at 390 and 1440 px wide, and none is wider than the
390 px viewport.

Screenshots of every page go to ``test-artifacts/journey/`` (not committed).
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import requests
from pypdf import PdfReader

import actors
import messages
from models import Billing, UsageRecord
from tests.support.axe import blocking_violations
from tests.support.browser import page, usage_records  # noqa: F401 - page is a fixture
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY, login
from tests.support.procs import BIN, hero_admin, wait_until
from tests.support.stack import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "journey"


def test_a_user_logs_in_tops_up_buys_a_plan_starts_a_vm_and_sees_usage(
    pg_stack: Stack, page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    web: Page = page  # type: ignore[assignment]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    #: Serious or critical axe-core violations of every page the journey shows.
    inaccessible: list[str] = []
    web.on("pageerror", lambda e: problems.append(str(e)))
    web.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    def shot(name: str) -> None:
        web.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        inaccessible.extend(blocking_violations(web))

    def both_widths(name: str) -> None:
        """Screenshots at 1440 and 390 px; at 390 nothing is wider than the viewport."""
        for width in (1440, 390):
            web.set_viewport_size({"width": width, "height": 900})
            web.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        wide = web.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{web.url} is {wide} px wide at 390"
        inaccessible.extend(blocking_violations(web))
        web.set_viewport_size({"width": 1200, "height": 900})

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
    actors.build_broker(pg_stack.env["HERO_AMQP_URL"])
    try:
        actors.send(messages.ApplyUsageBatch(records=usage_records(12), via="nats"))
    finally:
        actors.build_broker(None)
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
    expect(web.locator("#payments")).to_contain_text("Sandbox (no real money)")
    shot("11-payments")

    # The statement: every entry, a kind filter, and the same rows as CSV
    web.get_by_role("link", name="Statement").first.click()
    expect(web.locator("#statement tbody tr")).to_have_count(3)
    both_widths("12-statement")
    web.get_by_label("Usage", exact=True).check()
    web.locator("#apply-filter").click()
    web.wait_for_url(re.compile(r".*/statement\?.*kind=usage.*"))
    expect(web.locator("#statement tbody tr")).to_have_count(1)
    expect(web.locator("#statement")).to_contain_text("Usage: 12 records")
    expect(web.locator("#statement")).not_to_contain_text("Top-up")
    both_widths("13-statement-usage")
    with web.expect_download() as download:
        web.locator("#download-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["kind"], r["amount_cents"], r["amount_usd"]) for r in rows] == [
        ("usage", "-84", "-0.84")
    ]
    assert rows[0]["balance_after_cents"] == str(balance)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[0]["time_utc"])

    # A bad filter stays on the page, the values kept, the problem next to the field
    before = len(problems)
    web.goto(f"{url}/statement?from=2026-11-30&to=2026-11-01")
    expect(web.locator("#to-error")).to_have_text("must be on or after the from date")
    assert all("status of 400" in p for p in problems[before:])  # the page's own status
    del problems[before:]
    expect(web.locator("#from")).to_have_value("2026-11-30")
    both_widths("14-statement-error")

    # The receipt of the top-up, and its PDF
    web.goto(f"{url}/payments")
    web.locator(".receipt-link").first.click()
    expect(web.locator("#receipt-amount")).to_have_text("$25.00 USD")
    expect(web.locator("#receipt")).to_contain_text("Sandbox (no real money)")
    both_widths("15-receipt")
    receipt_path = web.url.removeprefix(url)
    with web.expect_download() as download:
        web.locator("#receipt-pdf").click()
    pdf = PdfReader(download.value.path())
    assert "$25.00 USD" in "".join(p.extract_text() for p in pdf.pages)

    # Another account opens none of it
    bob = requests.Session()
    login(bob, url, BOB_KEY)
    for path in (receipt_path, receipt_path + ".pdf"):
        assert bob.get(url + path, timeout=30).status_code == 404, path
    assert "Usage: 12" not in bob.get(f"{url}/statement", timeout=30).text
    assert bob.get(f"{url}/statement.csv", timeout=30).text.count("\n") == 1
    for path in ("/", "/payments"):
        web.goto(url + path)
        both_widths("16-" + (path.strip("/") or "dashboard"))

    # Log out
    web.get_by_role("button", name="Log out").click()
    web.wait_for_url(re.compile(r".*/login.*"))
    web.goto(f"{url}/plans")
    assert "/login" in web.url
    shot("20-logged-out")
    assert problems == []
    assert inaccessible == [], "\n".join(inaccessible)
