"""The operator console in headless Chromium against a running gateway and worker: an
operator logs in with the key proof, opens the console with a fresh proof, finds an
account, adjusts its balance with a reason and sees the entry in the account's ledger and
in the audit log. Anyone else gets the plain 404 of an unknown path from ``/admin``.

Screenshots go to ``test-artifacts/console/`` (not committed).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from models import AdminAudit, Billing, LedgerEntry
from tests.support.browser import page
from tests.support.console import console_stack
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, BOB_KEY, address_of, login
from tests.support.procs import BIN, hero_admin
from tests.support.stack import Stack

__all__ = ["page"]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
CUSTOMER = "41f:9a01:3c22:7e10:aa55:1234:5678:9abc"
ADMIN_PATHS = [
    "/admin",
    "/admin/",
    "/admin/login",
    "/admin/accounts",
    f"/admin/accounts/{CUSTOMER}",
    "/admin/audit",
    "/admin/pool",
    "/admin/no-such-page",
]


def prove(code: str, key_file: Path, url: str) -> None:
    proved = subprocess.run(
        [str(BIN / "hero-login"), "prove", code, "--key", str(key_file), "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proved.returncode == 0, proved.stdout + proved.stderr


def test_an_operator_finds_an_account_adjusts_it_and_sees_ledger_and_audit(
    pg_stack: Stack, page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    web: Page = page  # type: ignore[assignment]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = console_stack(pg_stack, tmp_path)
    added = hero_admin("user", "add", CUSTOMER, "--email", "c@example.org", env=pg_stack.env)
    assert added.returncode != 0  # unsigned without the operator key: refused
    added = hero_admin(
        "user", "add", CUSTOMER, "--email", "c@example.org", env=pg_stack.admin_env()
    )
    assert added.returncode == 0, added.stdout + added.stderr
    key_file = tmp_path / "priv_key.bin"
    key_file.write_bytes(bytes(ALICE_KEY))

    # The operator logs in as every user does
    web.goto(f"{url}/login")
    web.get_by_label("Mycelium address").fill(ALICE_ADDRESS)
    web.get_by_role("button", name="Get a login code").click()
    prove(web.locator("#code").inner_text().strip(), key_file, url)
    web.wait_for_url(f"{url}/", timeout=30_000)

    # and opens the console with a fresh proof
    web.goto(f"{url}/admin")
    web.get_by_role("button", name="Get a console code").click()
    web.screenshot(path=str(ARTIFACTS / "01-console-code.png"), full_page=True)
    prove(web.locator("#code").inner_text().strip(), key_file, url)
    web.wait_for_url(f"{url}/admin/accounts", timeout=30_000)
    expect(web.locator("#operator-address")).to_have_text(ALICE_ADDRESS)

    # finds the account by part of its email
    web.get_by_label("Search address or email").fill("C@EXAMPLE")
    web.get_by_role("button", name="Search").click()
    expect(web.locator("#accounts tbody tr")).to_have_count(1)
    web.screenshot(path=str(ARTIFACTS / "02-search.png"), full_page=True)
    web.get_by_role("link", name=CUSTOMER).click()
    expect(web.locator("#account-balance")).to_have_text("$0.00")

    # a change over the confirmation threshold needs the box ticked
    web.get_by_label("Amount in dollars").fill("600.00")
    web.get_by_label("Reason for the adjustment").fill("too much")
    web.get_by_role("button", name="Adjust balance").click()
    expect(web.get_by_role("alert")).to_contain_text("tick the confirmation")
    assert Billing.get().balance_cents == 0
    web.locator("#back").click()

    # adjusts the balance with a reason
    web.get_by_label("Amount in dollars").fill("12.34")
    web.get_by_label("Reason for the adjustment").fill("goodwill for the outage")
    web.get_by_role("button", name="Adjust balance").click()
    expect(web.locator("#change-outcome")).to_have_text("Done", timeout=30_000)
    web.locator("#back").click()
    expect(web.locator("#account-balance")).to_have_text("$12.34")
    first = web.locator("#ledger tbody tr").first
    expect(first).to_contain_text("adjustment")
    expect(first).to_contain_text("$12.34")
    expect(first).to_contain_text("goodwill for the outage")
    web.screenshot(path=str(ARTIFACTS / "03-account.png"), full_page=True)

    # and sees it in the audit log, under the operator's address
    web.get_by_role("link", name="Audit log").click()
    row = web.locator("#audit tbody tr").first
    expect(row).to_contain_text("balance_adjust")
    expect(row).to_contain_text("applied")
    expect(row).to_contain_text(ALICE_ADDRESS)
    expect(row).to_contain_text("goodwill for the outage")
    web.screenshot(path=str(ARTIFACTS / "04-audit.png"), full_page=True)
    audit = AdminAudit.select().order_by(AdminAudit.id.desc()).first()
    assert audit.outcome == "applied" and ALICE_ADDRESS in audit.args
    assert [int(e.amount_cents) for e in LedgerEntry.select()] == [1234]


def test_a_user_who_is_not_an_operator_gets_a_plain_404_from_admin(
    pg_stack: Stack, tmp_path: Path
) -> None:
    url = console_stack(pg_stack, tmp_path)
    plain = requests.get(f"{url}/no-such-page-at-all", timeout=30)
    assert plain.status_code == 404
    bob = requests.Session()
    assert login(bob, url, BOB_KEY).address == address_of(BOB_KEY)
    for who in (requests.Session(), bob):
        for path in ADMIN_PATHS:
            answer = who.get(url + path, timeout=30)
            assert answer.status_code == 404, path
            text = answer.text.lower()
            assert not any(word in text for word in ("operator", "console", "admin")), path
        refused = who.post(f"{url}/admin/login", data={"csrf_token": "x"}, timeout=30)
        assert refused.status_code == 404


@pytest.mark.parametrize("path", ["/admin/login"])
def test_an_operator_without_a_console_session_is_sent_to_its_login(
    pg_stack: Stack, tmp_path: Path, path: str
) -> None:
    url = console_stack(pg_stack, tmp_path)
    alice = requests.Session()
    login(alice, url, ALICE_KEY)
    answer = alice.get(f"{url}/admin/accounts", allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(path)
    # a user's session cookie is no console session, even under the console's name
    stolen = requests.Session()
    stolen.cookies.set("hero_console", alice.cookies.get("hero_session") or "", path="/admin")
    assert stolen.get(f"{url}/admin/accounts", timeout=30).status_code == 404
