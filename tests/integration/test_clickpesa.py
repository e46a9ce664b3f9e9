"""ClickPesa end to end: a real gateway and worker on PostgreSQL and RabbitMQ, a local ClickPesa.

Credit comes only after a verified webhook *and* a re-query that says SUCCESS, once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from models import Account, Billing, LedgerEntry, PaymentEvent, TopUp
from tests.support.fake_clickpesa import FakeClickPesa, signed_webhook
from tests.support.js_checksum import NodeChecksum, js_signed, node_binary
from tests.support.login import LoggedIn, login
from tests.support.procs import HeroProcess, hero_env, wait_until
from tests.support.services import free_port

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@dataclass
class Running:
    """One gateway and one worker, configured for the local ClickPesa."""

    url: str
    gateway: HeroProcess
    worker: HeroProcess
    fake: FakeClickPesa
    account: Account
    browser: requests.Session
    user: LoggedIn

    def start_topup(self, amount: str = "25.00") -> str:
        """Start a top-up in the browser's way; return its id once the worker recorded it."""
        resp = self.browser.post(
            f"{self.url}/topup",
            allow_redirects=False,
            timeout=30,
            data={"provider": "clickpesa", "amount": amount, "csrf_token": self.user.csrf_token},
        )
        assert resp.status_code == 303, resp.text
        location = resp.headers["Location"]
        assert location.startswith(f"{self.fake.url}/checkout/")
        topup_id = location.rsplit("/", 1)[1]
        wait_until(lambda: TopUp.get_or_none(TopUp.public_id == topup_id), what="TopUp row")
        return topup_id

    def post_webhook(self, body: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(
            f"{self.url}/webhooks/clickpesa", data=body, headers=headers, timeout=30
        )

    def confirmations(self) -> list[dict[str, object]]:
        """The worker's one line per finished ``confirm_clickpesa_payment`` message."""
        lines = []
        for line in self.worker.log_text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if (
                entry.get("event") == "message.processed"
                and entry.get("actor_name") == "confirm_clickpesa_payment"
            ):
                lines.append(entry)
        return lines


def balance_cents(account: Account) -> int:
    billing = Billing.get_or_none(Billing.account == account)
    return billing.balance_cents if billing else 0


@pytest.fixture
def fake() -> Iterator[FakeClickPesa]:
    with FakeClickPesa(
        client_id="cp_it_client", api_key="cp_it_api_key", checksum_key="cp_it_checksum_key"
    ) as server:
        yield server


@pytest.fixture
def running(pg_db: str, amqp_url: str, fake: FakeClickPesa, tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    mycelium_key = tmp_path / "mycelium_service.key"
    mycelium_key.write_bytes(bytes(range(32)))
    env = hero_env(
        HERO_DATABASE_URL=pg_db,
        HERO_AMQP_URL=amqp_url,
        HERO_HTTP_ADDR=f"127.0.0.1:{port}",
        HERO_CLICKPESA_CLIENT_ID=fake.client_id,
        HERO_CLICKPESA_API_KEY=fake.api_key,
        HERO_CLICKPESA_CHECKSUM_KEY=fake.checksum_key,
        HERO_CLICKPESA_API_BASE=fake.api_base,
        HERO_SANDBOX_PAYMENTS="false",
        HERO_MYCELIUM_KEY=str(mycelium_key),
        HERO_MYCELIUM_API=f"http://127.0.0.1:{free_port()}/api/v1",
    )
    worker = HeroProcess("worker", env, tmp_path).start()
    gateway = HeroProcess("gateway", env, tmp_path).start()
    try:
        worker.wait_for_log("worker.started")
        url = f"http://127.0.0.1:{port}"
        gateway.wait_http(f"{url}/healthz")
        account = Account.create(address=ADDRESS)
        browser = requests.Session()
        yield Running(
            url=url,
            gateway=gateway,
            worker=worker,
            fake=fake,
            account=account,
            browser=browser,
            user=login(browser, url),
        )
    finally:
        gateway.stop()
        worker.stop()


def test_topup_redirects_to_a_usd_checkout_link_for_its_order(running: Running) -> None:
    topup_id = running.start_topup("25.00")
    order = running.fake.orders[topup_id]
    assert (order["orderCurrency"], order["totalPrice"]) == ("USD", "25.00")
    assert topup_id.isalnum()


def test_a_verified_payment_is_credited_once_when_the_webhook_comes_twice(
    running: Running,
) -> None:
    # Given a top-up that ClickPesa says was paid
    topup_id = running.start_topup()
    running.fake.set_payment(topup_id, status="SUCCESS", amount="25.00", currency="USD")
    body, headers = running.fake.webhook(topup_id, event="PAYMENT RECEIVED")
    # When its webhook is delivered twice
    assert running.post_webhook(body, headers).status_code == 200
    assert running.post_webhook(body, headers).status_code == 200
    # Then both messages are handled and the account is credited once
    wait_until(lambda: len(running.confirmations()) >= 2, what="two confirmations")
    assert sorted(str(c["result"]) for c in running.confirmations()) == ["credited", "duplicate"]
    assert balance_cents(running.account) == 2500
    assert LedgerEntry.select().count() == 1
    event = PaymentEvent.get()
    assert (event.provider, event.key, event.amount_cents) == ("clickpesa", topup_id, 2500)
    assert TopUp.get(TopUp.public_id == topup_id).status == "paid"


def test_a_bad_checksum_is_refused_and_credits_nothing(running: Running) -> None:
    # Given a paid top-up
    topup_id = running.start_topup()
    record = running.fake.set_payment(topup_id, status="SUCCESS", amount="25.00")
    # When its webhook comes signed with the wrong key, or unsigned
    forged = signed_webhook("PAYMENT RECEIVED", record, "not-the-checksum-key")
    unsigned = (
        json.dumps({"event": "PAYMENT RECEIVED", "data": record}).encode(),
        {"Content-Type": "application/json"},
    )
    for body, headers in (forged, unsigned):
        resp = running.post_webhook(body, headers)
        assert resp.status_code == 400
        assert resp.json()["description"].startswith("checksum:")
    # Then a later good webhook of another top-up is credited, and this one never was
    other = running.start_topup("10.00")
    running.fake.set_payment(other, status="SUCCESS", amount="10.00")
    assert running.post_webhook(*running.fake.webhook(other)).status_code == 200
    wait_until(lambda: balance_cents(running.account) == 1000, what="the other credit")
    assert running.fake.queries(topup_id) == 0
    assert not PaymentEvent.select().where(PaymentEvent.key == topup_id).exists()
    assert TopUp.get(TopUp.public_id == topup_id).status == "started"


def test_a_webhook_whose_requery_says_failed_credits_nothing(running: Running) -> None:
    topup_id = running.start_topup()
    running.fake.set_payment(topup_id, status="FAILED", amount="0")
    body, headers = running.fake.webhook(topup_id, event="PAYMENT RECEIVED")
    assert running.post_webhook(body, headers).status_code == 200
    wait_until(
        lambda: TopUp.get(TopUp.public_id == topup_id).status == "failed",
        what="top-up marked failed",
    )
    wait_until(running.confirmations, what="the confirmation line")
    assert [c["result"] for c in running.confirmations()] == ["failed"]
    assert PaymentEvent.select().count() == 0
    assert balance_cents(running.account) == 0


def test_a_processing_payment_is_credited_once_after_a_retry(running: Running) -> None:
    # Given a payment ClickPesa still reports as PROCESSING when the webhook comes
    topup_id = running.start_topup()
    running.fake.set_payment(topup_id, status="PROCESSING", amount="25.00")
    assert running.post_webhook(*running.fake.webhook(topup_id)).status_code == 200
    wait_until(lambda: running.fake.queries(topup_id) >= 1, what="the first re-query")
    assert balance_cents(running.account) == 0
    # When ClickPesa later says SUCCESS
    running.fake.set_payment(topup_id, status="SUCCESS", amount="25.00")
    # Then a retry credits it, once
    wait_until(lambda: balance_cents(running.account) == 2500, what="credit after retry")
    wait_until(
        lambda: any(c.get("result") == "credited" for c in running.confirmations()),
        what="the credited line",
    )
    outcomes = [c["outcome"] for c in running.confirmations()]
    assert outcomes[0] == "failed" and outcomes[-1] == "ok"
    assert running.fake.queries(topup_id) >= 2
    assert LedgerEntry.select().count() == 1


@pytest.fixture
def node() -> Iterator[NodeChecksum]:
    binary = node_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is required in CI to sign webhooks as ClickPesa's JavaScript does")
        pytest.skip("node is not installed")
    js = NodeChecksum(binary)
    yield js
    js.close()


def js_webhook(record: dict[str, object], *, key: str = "eventType", name: str) -> str:
    """A webhook body as ClickPesa's JavaScript would sign it, with JavaScript numbers."""
    data = json.dumps(record, ensure_ascii=False)[:-1]
    data += ', "collectedAmount": 25.00, "fee": 1000.00, "attempts": {"10": 1, "2": 2}}'
    return f'{{"{key}": "{name}", "data": {data}}}'


def test_a_webhook_signed_by_the_documented_javascript_is_credited(
    running: Running, node: NodeChecksum
) -> None:
    # Given a paid top-up and a webhook whose checksum node made over numbers like 1000.00
    topup_id = running.start_topup("25.00")
    record = dict(running.fake.set_payment(topup_id, status="SUCCESS", amount="25.00"))
    record.pop("collectedAmount")
    text = js_webhook(record, key="event", name="PAYMENT RECEIVED")
    body = js_signed(node, text, running.fake.checksum_key)
    assert b'"fee": 1000.00' in body
    # When a tampered copy and then the real one are delivered
    tampered = body.replace(b'"fee": 1000.00', b'"fee": 1000.01')
    resp = running.post_webhook(tampered, {"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["description"].startswith("checksum:")
    assert running.post_webhook(body, {"Content-Type": "application/json"}).status_code == 200
    # Then the worker re-queries and credits it once
    wait_until(lambda: balance_cents(running.account) == 2500, what="the credit")
    wait_until(running.confirmations, what="the confirmation line")
    assert [c["result"] for c in running.confirmations()] == ["credited"]


def test_the_documented_event_type_payment_failed_marks_the_topup_failed(
    running: Running, node: NodeChecksum
) -> None:
    topup_id = running.start_topup("25.00")
    record = dict(running.fake.set_payment(topup_id, status="FAILED", amount="0"))
    record.pop("collectedAmount")
    text = js_webhook(record, key="eventType", name="PAYMENT FAILED")
    body = js_signed(node, text, running.fake.checksum_key)
    assert running.post_webhook(body, {"Content-Type": "application/json"}).status_code == 200
    wait_until(
        lambda: TopUp.get(TopUp.public_id == topup_id).status == "failed",
        what="top-up marked failed",
    )
    assert balance_cents(running.account) == 0


def test_a_webhook_with_a_bad_amount_is_refused_and_queries_nothing(running: Running) -> None:
    topup_id = running.start_topup("25.00")
    record = running.fake.set_payment(topup_id, status="SUCCESS", amount="25.00")
    for amount in ("25.005", "-25.00", "1e3", "99999999999"):
        body, headers = signed_webhook(
            "PAYMENT RECEIVED", {**record, "collectedAmount": amount}, running.fake.checksum_key
        )
        resp = running.post_webhook(body, headers)
        assert resp.status_code == 400, resp.text
        assert resp.json()["description"].startswith("data.collectedAmount:")
    assert running.fake.queries(topup_id) == 0
    assert balance_cents(running.account) == 0
