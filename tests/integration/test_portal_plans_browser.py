"""Plans in headless Chromium against a running gateway and worker: a disabled button says
why, a plan bought, upgraded from 5 to 10 VMs at its pro rata price, renewal turned on, a
VM started and released back to the pool. Every page is taken at 390 and 1440 px wide
(``test-artifacts/plans/``, not committed) and none is wider than the 390 px viewport."""

from __future__ import annotations

import subprocess
from pathlib import Path

from models import Billing, PlanSubscription, VmPoolSlot
from tests.support.browser import page  # noqa: F401 (the browser fixture)
from tests.support.login import ALICE_ADDRESS, ALICE_KEY
from tests.support.procs import BIN, hero_admin, wait_until
from tests.support.stack import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "plans"


def test_a_user_upgrades_a_plan_turns_renewal_on_and_releases_a_vm(
    pg_stack: Stack,
    page: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Page, expect

    web: Page = page  # type: ignore[assignment]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def both_widths(name: str) -> None:
        for width in (1440, 390):
            web.set_viewport_size({"width": width, "height": 900})
            web.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        wide = web.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{web.url} is {wide} px wide at 390"
        web.set_viewport_size({"width": 1200, "height": 900})

    url = pg_stack.gateway()
    pg_stack.worker()
    added = hero_admin(
        "pool", "add", "vm-201", "--address", "10.20.0.201", env=pg_stack.admin_env()
    )
    assert added.returncode == 0, added.stdout + added.stderr
    key_file = tmp_path / "priv_key.bin"
    key_file.write_bytes(bytes(ALICE_KEY))

    web.goto(f"{url}/login")
    web.get_by_label("Mycelium address").fill(ALICE_ADDRESS)
    web.get_by_role("button", name="Get a login code").click()
    code = web.locator("#code").inner_text().strip()
    proved = subprocess.run(
        [str(BIN / "hero-login"), "prove", code, "--key", str(key_file), "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proved.returncode == 0, proved.stdout + proved.stderr
    web.wait_for_url(f"{url}/", timeout=30_000)

    # With no credit, the buy buttons are off and the page says why
    wait_until(lambda: Billing.select().count() == 1, what="the account to be set up")
    web.goto(f"{url}/plans")
    expect(web.locator("#buy-5vms")).to_be_disabled()
    expect(web.locator("#why-5vms")).to_contain_text("this plan costs $10.00. Top up")
    expect(web.get_by_role("heading", name="5 VMs for 30 days")).to_be_visible()
    both_widths("01-plans-no-credit")

    adjusted = hero_admin(
        "balance",
        "adjust",
        ALICE_ADDRESS,
        "--to",
        "2500",
        "--reason",
        "browser test credit",
        env=pg_stack.admin_env(),
    )
    assert adjusted.returncode == 0, adjusted.stdout + adjusted.stderr

    # Buy 5 VMs, then upgrade to 10: charged the difference for the rest of the period
    web.goto(f"{url}/plans")
    web.locator("#buy-5vms").click()
    expect(web.get_by_role("heading", name="Plan bought")).to_be_visible(timeout=30_000)
    web.goto(f"{url}/plans")
    expect(web.locator("#upgrade-10vms")).to_be_enabled()
    expect(web.locator("#upgrade-cost-10vms")).to_contain_text("Upgrade now for")
    both_widths("02-plans-upgrade-offer")
    web.locator("#upgrade-10vms").click()
    expect(web.get_by_role("heading", name="Plan upgraded")).to_be_visible(timeout=30_000)
    expect(web.locator("#upgraded")).to_contain_text("10 VMs")
    both_widths("03-plan-upgraded")
    plan = PlanSubscription.get()
    assert (plan.plan_id, plan.vm_quota_total) == ("10vms", 10)
    balance = Billing.get().balance_cents
    assert 500 <= balance <= 501  # $25 - $10 - the pro rata $10 (a fraction rounded down)

    # Turn renewal on
    web.goto(f"{url}/plans")
    expect(web.locator("#renewal-state")).to_contain_text("off")
    web.locator("#renewal-toggle").click()
    expect(web.get_by_role("heading", name="Renewal on")).to_be_visible(timeout=30_000)
    assert PlanSubscription.get().auto_renew is True

    # Start a VM: its address and state show; release it: its place is free again
    web.goto(f"{url}/plans")
    web.locator("#start-vm").click()
    expect(web.get_by_role("heading", name="VM started")).to_be_visible(timeout=30_000)
    web.goto(f"{url}/plans")
    expect(web.locator("#vm-list")).to_contain_text("10.20.0.201")
    expect(web.locator("#vm-list")).to_contain_text("Running")
    expect(web.locator("#current-plan")).to_contain_text("1 of 10 VMs in use")
    both_widths("04-plans-vm-running")
    web.locator("#release-vm-201").click()
    expect(web.get_by_role("heading", name="VM released")).to_be_visible(timeout=30_000)
    both_widths("05-vm-released")
    web.goto(f"{url}/plans")
    expect(web.locator("#no-vms")).to_be_visible()
    expect(web.locator("#current-plan")).to_contain_text("0 of 10 VMs in use")
    assert VmPoolSlot.get(VmPoolSlot.vm_id == "vm-201").status == "free"
