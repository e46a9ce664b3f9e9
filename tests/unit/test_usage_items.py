"""A usage entry opens to its records: node, resource, quantity, list price, discount, charge."""

from __future__ import annotations

import datetime as dt

import falcon.testing
import pytest

from actors.usage import apply_batch
from models import Billing, LedgerEntry
from tests.support.login import ALICE_ADDRESS, BOB_KEY
from tests.support.web import HTML, Clock, Sent, account_of, logged_in, make_app

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


def _usage() -> int:
    account = account_of()
    Billing.update(first_paid_at=NOW - dt.timedelta(days=40)).where(
        Billing.account == account
    ).execute()
    moment = (NOW - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    apply_batch(
        [
            {
                "key": "node-a:1",
                "node": "node-a",
                "user": ALICE_ADDRESS,
                "resource_kind": "llm_token",
                "applies_to": "llm",
                "quantity": 1200,
                "amount_cents": 7,
                "occurred_at": moment,
            },
            {
                "key": "node-b:1",
                "node": "node-b",
                "user": ALICE_ADDRESS,
                "resource_kind": "vm_hour",
                "applies_to": "vm",
                "quantity": 1,
                "amount_cents": 3,
                "occurred_at": moment,
            },
        ],
        via="git",
        now=NOW,
    )
    return int(LedgerEntry.get(LedgerEntry.kind == "usage").id)


def test_a_usage_entry_lists_its_records_with_list_price_discount_and_charge(client) -> None:
    alice = logged_in(client)
    entry_id = _usage()
    assert f'href="/statement/{entry_id}"' in alice.get("/statement", headers=HTML).text
    page = alice.get(f"/statement/{entry_id}", headers=HTML)
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
    llm = next(r for r in rows if "llm_token" in r)
    vm = next(r for r in rows if "vm_hour" in r)
    for text in ("node-a", "1,200", "$0.07", "month tier, x0.25", "$0.0175"):
        assert text in llm, text
    for text in ("node-b", "$0.03", "month tier, x1"):
        assert text in vm, text


def test_another_account_cannot_open_a_usage_entry(client) -> None:
    entry_id = _usage()
    bob = logged_in(client, BOB_KEY)
    answer = bob.get(f"/statement/{entry_id}", headers=HTML)
    assert answer.status_code == 404 and "node-a" not in answer.text


def test_only_usage_entries_open(client) -> None:
    from tests.support.web import entry

    alice = logged_in(client)
    other = entry(account_of(), 100, ref="adj:x", details={"reason": "x"})
    assert alice.get(f"/statement/{other}", headers=HTML).status_code == 404
    assert alice.get("/statement/99999999999999999999", headers=HTML).status_code == 404
