"""Notifications: written once where things happen, emailed by SendGrid or to a folder."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from actors.ledger import post
from actors.notify import render, send_pending
from actors.payments import PaymentFact, credit_payment
from adapters.email import EmailError, FolderSender, SendGridSender
from models import Account, Billing, Notification
from wire.times import utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.fixture
def account(sqlite_db: str) -> Account:
    return Account.create(address=USER, email="ada@example.org", email_verified_at=utcnow())


def test_a_credited_payment_notifies_once(account) -> None:
    fact = PaymentFact(
        provider="stripe",
        payment_key="pi_1",
        address=USER,
        amount_cents=2500,
        currency="usd",
        paid_at=1_790_000_000,
    )
    credit_payment(fact)
    credit_payment(fact)
    [note] = Notification.select()
    assert note.kind == "payment_credited"
    payload = json.loads(note.payload)
    assert payload["amount_cents"] == 2500 and payload["balance_after_cents"] == 2500


def test_low_balance_is_notified_when_a_debit_crosses_the_threshold_only(account) -> None:
    post(account, amount_cents=1000, kind="payment", ref="p")
    post(account, amount_cents=-400, kind="usage", ref="u1")  # 600: above
    post(account, amount_cents=-200, kind="usage", ref="u2")  # 400: crosses
    post(account, amount_cents=-100, kind="usage", ref="u3")  # 300: already below
    notes = [n for n in Notification.select() if n.kind == "low_balance"]
    assert [json.loads(n.payload)["balance_cents"] for n in notes] == [400]
    assert Billing.get().balance_cents == 300


def test_folder_sender_writes_an_eml_per_notification(account, tmp_path: Path) -> None:
    post(account, amount_cents=1000, kind="payment", ref="p")
    post(account, amount_cents=-600, kind="usage", ref="u1")
    sender = FolderSender(folder=str(tmp_path / "outbox"), sender="billing@hero.test")
    assert send_pending(sender) == {"sent": 1, "skipped": 0, "failed": 0}
    [mail] = (tmp_path / "outbox").iterdir()
    text = mail.read_text()
    assert "To: ada@example.org" in text and "running low" in text
    assert send_pending(sender)["sent"] == 0


def test_accounts_without_email_are_skipped(sqlite_db: str, tmp_path: Path) -> None:
    account = Account.create(address=USER)
    post(account, amount_cents=1000, kind="payment", ref="p")
    post(account, amount_cents=-600, kind="usage", ref="u1")
    assert send_pending(FolderSender(folder=str(tmp_path), sender="b@x.test"))["skipped"] == 1


class _SendGrid(BaseHTTPRequestHandler):
    received: list = []
    status = 202

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _SendGrid.received.append((self.path, self.headers["Authorization"], body))
        self.send_response(_SendGrid.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def sendgrid():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SendGrid)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _SendGrid.received = []
    _SendGrid.status = 202
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sendgrid_sender_posts_the_v3_mail_send_body(sendgrid: str) -> None:
    SendGridSender(api_key="SG.key", sender="billing@hero.test", api_base=sendgrid).send(
        to="ada@example.org", subject="Hi", text="Hello"
    )
    [(path, auth, body)] = _SendGrid.received
    assert path == "/v3/mail/send" and auth == "Bearer SG.key"
    assert body["personalizations"] == [{"to": [{"email": "ada@example.org"}]}]
    assert body["content"] == [{"type": "text/plain", "value": "Hello"}]


def test_a_refused_email_stays_pending(account, sendgrid: str) -> None:
    _SendGrid.status = 503
    post(account, amount_cents=1000, kind="payment", ref="p")
    post(account, amount_cents=-600, kind="usage", ref="u1")
    sender = SendGridSender(api_key="SG.key", sender="b@hero.test", api_base=sendgrid)
    with pytest.raises(EmailError, match="503"):
        sender.send(to="x@example.org", subject="s", text="t")
    assert send_pending(sender)["failed"] == 1
    _SendGrid.status = 202
    assert send_pending(sender)["sent"] == 1


@pytest.mark.parametrize(
    "kind, payload, words",
    [
        ("tier_reached", {"tier": "week"}, "half"),
        ("plan_expiring", {"plan_id": "5vms", "period_end": "2026-12-01T00:00:00Z"}, "5vms"),
        ("low_balance", {"balance_cents": 120}, "$1.20"),
    ],
)
def test_render_says_what_happened(kind, payload, words) -> None:
    subject, text = render(kind, payload)
    assert words in subject + text
