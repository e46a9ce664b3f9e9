"""The console's changes through the real gateway and worker: each needs a reason and the
console session's CSRF token, goes through the signed admin actor, and is audited under the
operator's address; a refund reaches the Stripe stand-in with an idempotency key."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from models import Account, AdminAudit, Alert, Billing, PaymentEvent, VmPoolSlot
from tests.support.console import console_stack
from tests.support.fake_stripe import fake_stripe
from tests.support.login import ALICE_ADDRESS, ALICE_KEY, login, prove_with_key
from tests.support.procs import wait_until
from tests.support.stack import STRIPE_SECRET, Stack
from tests.support.stripe_events import checkout_completed, signed

CUSTOMER = "41f:9a01:3c22:7e10:aa55:1234:5678:9abc"


def customer_balance() -> int:
    return int(
        Billing.select().join(Account).where(Account.address == CUSTOMER).get().balance_cents
    )


def open_console(session: requests.Session, url: str) -> str:
    """Log Alice in, open the console with a fresh proof; the console's CSRF token."""
    user = login(session, url, ALICE_KEY)
    started = session.post(
        f"{url}/admin/login", data={"csrf_token": user.csrf_token}, allow_redirects=False
    )
    assert started.status_code == 303, started.text
    challenge_id = started.headers["Location"].rsplit("/", 1)[1]
    wait = session.get(url + started.headers["Location"], timeout=30).text
    code = re.search(r'id="code">([^<]+)<', wait).group(1)  # type: ignore[union-attr]
    pubkey = re.search(r'service key <code class="addr">([0-9a-f]+)<', wait).group(1)  # type: ignore[union-attr]
    challenge = {"id": challenge_id, "code": code, "service_pubkey": pubkey}
    assert prove_with_key(url, challenge, ALICE_KEY).status_code == 200
    opened = session.get(url + started.headers["Location"], timeout=30)
    assert opened.url.endswith("/admin/accounts"), opened.url
    return re.search(r'name="csrf_token" value="([^"]+)"', opened.text).group(1)  # type: ignore[union-attr]


def change(session: requests.Session, url: str, path: str, **form: str) -> requests.Response:
    return session.post(url + path, data=form, timeout=30)


def test_console_changes_need_a_reason_and_the_token_and_are_audited(
    pg_stack: Stack, tmp_path: Path
) -> None:
    url = console_stack(pg_stack, tmp_path)
    Billing.create(account=Account.create(address=CUSTOMER))
    alert = Alert.create(kind="force_push", subject="node-a", message="history rewritten")
    web = requests.Session()
    token = open_console(web, url)

    # Without a reason: 400 naming the field, nothing audited
    answer = change(web, url, "/admin/pool/add", vm_ids="vm-1", csrf_token=token)
    assert answer.status_code == 400 and "reason: every change needs a reason" in answer.text
    # Without the console's CSRF token: 403
    assert change(web, url, "/admin/pool/add", vm_ids="vm-1", reason="x").status_code == 403
    assert AdminAudit.select().count() == 0

    for path, form in [
        ("/admin/pool/add", {"vm_ids": "vm-1 vm-2"}),
        ("/admin/pool/vm-1/retire", {}),
        (f"/admin/alerts/{alert.id}/resolve", {}),
        (f"/admin/accounts/{CUSTOMER}/kyc", {"status": "approved"}),
    ]:
        answer = change(web, url, path, reason="checked", csrf_token=token, **form)
        assert answer.status_code == 200 and "Done" in answer.text, (path, answer.text)
    assert VmPoolSlot.get(VmPoolSlot.vm_id == "vm-1").status == "retired"
    assert Alert.get_by_id(alert.id).resolved_at is not None
    rows = list(AdminAudit.select().order_by(AdminAudit.id))
    assert [r.action for r in rows] == ["pool_add", "pool_retire", "alert_resolve", "kyc_set"]
    assert all(r.outcome == "applied" and ALICE_ADDRESS in r.args for r in rows)

    # A refusal from the actor is shown in plain words
    answer = change(web, url, "/admin/pool/nope/retire", reason="x", csrf_token=token)
    assert "no VM &#39;nope&#39; in the pool" in answer.text or "no VM 'nope'" in answer.text


def test_a_console_refund_reaches_stripe_and_its_webhook_debits_once(
    pg_stack: Stack, tmp_path: Path
) -> None:
    with fake_stripe("sk_test_integration") as fake:
        url = console_stack(pg_stack, tmp_path, HERO_STRIPE_API_BASE=fake.url)
        Billing.create(account=Account.create(address=CUSTOMER))
        body, headers = signed(
            checkout_completed(address=CUSTOMER, amount_cents=3000, payment_intent="pi_c1"),
            STRIPE_SECRET,
        )
        assert requests.post(f"{url}/webhooks/stripe", data=body, headers=headers, timeout=30).ok
        payment = wait_until(lambda: PaymentEvent.get_or_none(PaymentEvent.key == "pi_c1"))
        fake.charge_amounts["pi_c1"] = 3000
        fake.webhook_url, fake.webhook_secret, fake.deliveries = (
            f"{url}/webhooks/stripe",
            STRIPE_SECRET,
            2,
        )
        web = requests.Session()
        token = open_console(web, url)
        answer = change(
            web,
            url,
            f"/admin/payments/{payment.id}/refund",
            amount="7.50",
            reason="customer asked",
            csrf_token=token,
        )
        assert answer.status_code == 200 and "Done" in answer.text, answer.text
        [asked] = [r for r in fake.requests if "create_refund" in r]
        assert asked["idempotency_key"].startswith("hero-refund-")
        assert asked["create_refund"]["amount"] == "750"
        assert asked["create_refund"]["metadata[operator]"] == ALICE_ADDRESS
        wait_until(lambda: fake.webhook_statuses == [200, 200], what="both deliveries")
        wait_until(lambda: customer_balance() == 2250, what="the refund debited")
        refunds = PaymentEvent.select().where(PaymentEvent.kind == "refund")
        assert [int(r.amount_cents) for r in refunds] == [750]
