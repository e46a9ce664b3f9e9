"""The login pages in headless Chromium: ask for a code, send it over Mycelium, get logged in.

The waiting page's poll script (CSP: scripts from 'self' only) notices the proof and moves
on; the header then shows the address and a logout button. Screenshots go to the test's
temporary folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nacl.public
import pytest

from tests.conftest import need
from tests.support.fake_mycelium import FakeMycelium
from tests.support.login import ALICE_ADDRESS, ALICE_KEY
from tests.support.stack import Stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser_page() -> Iterator[object]:
    need("Chromium (apt-get install chromium)", CHROMIUM is not None)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_a_mycelium_message_logs_the_browser_in_and_logout_logs_it_out(
    pg_stack: Stack, browser_page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    key = nacl.public.PrivateKey(Path(pg_stack.env["HERO_MYCELIUM_KEY"]).read_bytes())
    with FakeMycelium(key) as node:
        url = pg_stack.gateway(HERO_MYCELIUM_API=node.url)
        pg_stack.worker()

        # Given the login page, when the user asks for a code for their address
        page.goto(f"{url}/login")
        page.screenshot(path=str(tmp_path / "login.png"), full_page=True)
        page.get_by_label("Mycelium address").fill(ALICE_ADDRESS)
        page.get_by_role("button", name="Get a login code").click()

        # Then the waiting page shows the code and the exact command
        code = page.locator("#code").inner_text().strip()
        expect(page.locator("#message-command")).to_have_text(
            f"mycelium message send {node.node_pubkey} {code} --topic hero.login"
        )
        page.screenshot(path=str(tmp_path / "login_wait.png"), full_page=True)

        # When their node sends the code, the page's poll notices and logs them in
        node.send_login(ALICE_KEY, code)
        page.wait_for_url(f"{url}/", timeout=30_000)
        expect(page.locator("#viewer-address")).to_have_text(ALICE_ADDRESS)
        expect(page.locator("#balance")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(tmp_path / "home.png"), full_page=True)

        # And logging out ends it
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{url}/login")
        page.goto(f"{url}/")
        assert page.url.startswith(f"{url}/login")
    assert problems == []
