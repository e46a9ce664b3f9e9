"""Every page shows times as people read them ("30 Dec 2026, 10:01 UTC"): no raw ISO
8601, no microseconds, in the text a person sees (``<time datetime>`` keeps the ISO form
for machines). Customer pages through the gateway's routes, console pages rendered with
what their real read queries return."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import falcon.testing
import pytest

from actors.plans import buy
from gateway.console import queries
from gateway.templates import Renderer
from models import AdminAudit, Alert, Notification, TopUp, UnmatchedItem
from models.admin_reads import PAGE_ROWS, audit_page, ledger_page
from tests.support.login import ALICE_ADDRESS
from tests.support.plans import act, fund, start_vm
from tests.support.receipts import pay
from tests.support.web import HTML, Clock, Sent, account_of, entry, logged_in, make_app
from wire.times import utcnow

#: A time a machine writes: "2026-12-30T10:01", "2026-12-30 10:01:59", "T10:01:59", ".123456".
RAW_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|T\d{2}:\d{2}:\d{2}|:\d{2}\.\d{1,6}\b")


class _Text(HTMLParser):
    """The text a person sees: no tags, attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._hidden += tag in ("script", "style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style", "title")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def assert_human(name: str, html: str) -> None:
    text = visible(html)
    found = RAW_TIME.findall(text)
    assert found == [], f"{name} shows raw times {found}: {text[:400]}"
    assert " UTC" in text, f"{name} shows no time at all: {text[:400]}"


def test_the_detector_finds_what_it_must() -> None:
    for raw in ("2026-12-30T10:01:59.123456Z", "2026-12-30 10:01:59", "at T10:01:59", "10:01:59.5"):
        assert RAW_TIME.search(visible(f"<p>{raw}</p>")), raw
    html = '<p><time datetime="2026-12-30T10:01:59Z">30 Dec 2026, 10:01 UTC</time></p>'
    assert RAW_TIME.search(visible(html)) is None


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


def test_every_customer_page_reads_its_times_as_people_do(client) -> None:
    alice = logged_in(client)
    challenge = alice.start_login(ALICE_ADDRESS)
    payment_id = pay(2500)
    usage = entry(account_of(), -7, kind="usage", ref="u-1", details={"records": []})
    fund(2500)
    bought = act("buy_plan", lambda r: buy(r, ALICE_ADDRESS, "5vms", now=utcnow()))
    start_vm("vm-a")
    TopUp.create(public_id="HEROLEFT", account=account_of(), provider="sandbox", amount_cents=900)
    pages = [
        "/",
        "/topup",
        "/statement",
        "/payments",
        f"/payments/{payment_id}/receipt",
        f"/statement/{usage}",
        "/plans",
        "/account",
        f"/requests/{bought['request_id']}",
        f"/auth/challenges/{challenge['id']}",
    ]
    for path in pages:
        page = alice.get(path, headers=HTML)
        assert page.status_code == 200, (path, page.status_code)
        assert_human(path, page.text)


def test_every_console_page_reads_its_times_as_people_do(sqlite_db: str) -> None:
    account = account_of()
    entry(account, 2500, kind="payment", ref="p-1")
    pay(1200, key="pi_console")
    fund(2500)
    act("buy_plan", lambda r: buy(r, ALICE_ADDRESS, "5vms", now=utcnow()))
    start_vm("vm-a")
    Notification.create(account=account, kind="low_balance", key="k", sent_at=utcnow())
    Alert.create(kind="usage_gap", message="a gap", resolved_at=utcnow())
    Alert.create(kind="usage_gap", message="another gap")
    UnmatchedItem.create(source="payment", ref="pi_x", reason="no account", payload="{}")
    AdminAudit.create(nonce="n-1", action="balance_adjust", outcome="applied")
    header = {"operator": ALICE_ADDRESS, "csrf_token": "t"}
    renderer = Renderer()
    detail = {
        **queries.account_detail(account, kyc_required_for="none"),
        "ledger": ledger_page(account, limit=PAGE_ROWS, before=None),
        "account_url": "/admin/accounts/x",
        "confirm_cents": 100_00,
    }
    assert_human("account", renderer.render("console_account.html", **header, **detail))
    audit = audit_page(limit=PAGE_ROWS, before=None)
    assert_human("audit", renderer.render("console_audit.html", **header, **audit))
    lists = {
        "payments": ["id", "amount_cents", "received_at"],
        "unmatched": ["id", "ref", "created_at"],
        "alerts": ["id", "kind", "created_at"],
    }
    for kind, columns in lists.items():
        rows = getattr(queries, kind)()
        assert rows, kind
        html = renderer.render(
            "console_list.html", **header, title=kind, columns=columns, rows=rows, kind=kind
        )
        assert_human(kind, html)
