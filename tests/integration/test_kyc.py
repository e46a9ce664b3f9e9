"""Identity verification against a stand-in iDenfy, through real gateway and worker
processes on PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import uuid

import requests

import actors
import messages
from models import AdminAudit, Billing, LedgerEntry, PlanSubscription
from models.kyc import KycEvent, KycVerification
from tests.support.fake_idenfy import FakeIdenfy
from tests.support.kyc_stack import SIGNING_KEY, idenfy, kyc, start  # noqa: F401 - fixtures
from tests.support.login import BOB_KEY, JSON, LoggedIn, login
from tests.support.procs import hero_admin, wait_until
from tests.support.stack import Stack


def state(url: str, session: requests.Session, want: str) -> dict:
    def reached() -> dict | None:
        got = session.get(f"{url}/kyc", headers=JSON, timeout=30).json()
        return got if got["status"] == want else None

    return wait_until(reached, timeout=30, what=f"verification {want}")


def buy(url: str, session: requests.Session, user: LoggedIn) -> requests.Response:
    form = {"plan_id": "5vms", "request_id": uuid.uuid4().hex, "csrf_token": user.csrf_token}
    return session.post(f"{url}/plans", data=form, headers=JSON, timeout=30)


def done(url: str, session: requests.Session, request_id: str) -> dict | None:
    got = session.get(f"{url}/requests/{request_id}", headers=JSON, timeout=30).json()
    return got if got["outcome"] != "pending" else None


def fund(cents: int) -> None:
    billing = Billing.get()
    LedgerEntry.create(
        account=billing.account_id,
        amount_cents=cents,
        kind="adjustment",
        ref=uuid.uuid4().hex,
        balance_after_cents=billing.balance_cents + cents,
    )
    Billing.update(balance_cents=Billing.balance_cents + cents).execute()


def test_gate_refuses_a_plan_until_approved_then_sells_it(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    fund(2500)
    refused = buy(url, session, user)
    assert refused.status_code == 403 and "Identity verification" in refused.text
    page = session.post(
        f"{url}/plans",
        data={"plan_id": "5vms", "request_id": uuid.uuid4().hex, "csrf_token": user.csrf_token},
        allow_redirects=False,
        timeout=30,
    )
    assert page.status_code == 303 and page.headers["Location"] == "/kyc?need=plan"
    shown = session.get(f"{url}/kyc?need=plan", timeout=30).text
    assert 'id="kyc-start"' in shown and "before buying a plan" in shown

    # A forged message straight to the actor is refused too.
    actors.build_broker(pg_stack.env["HERO_AMQP_URL"])
    try:
        forged = uuid.uuid4().hex
        actors.send(messages.BuyPlan(request_id=forged, address=user.address, plan_id="5vms"))
    finally:
        actors.build_broker(None)
    outcome = wait_until(lambda: done(url, session, forged), what="forged buy")
    assert outcome["outcome"] == "refused" and "Identity verification" in outcome["message"]

    scan_ref = start(url, session, user)
    sent = idenfy.token_requests[-1]
    row = KycVerification.get()
    assert sent["clientId"] == row.client_id and user.address not in json.dumps(sent)
    assert idenfy.finish(scan_ref, "APPROVED", autoDocument="DOC_VALIDATED") == [200]
    assert state(url, session, "approved")["scan_ref"] == scan_ref

    assert buy(url, session, user).status_code == 202
    wait_until(lambda: PlanSubscription.select().count() == 1, what="plan bought")
    assert Billing.get().balance_cents == 1500
    stored = json.dumps(
        [list(KycEvent.select().dicts()), list(KycVerification.select().dicts())], default=str
    )
    for personal in ("JOHN", "SAMPLE", "XK1234567", "1990-05-15", "s3.example", "203.0.113.7"):
        assert personal not in stored


def test_denied_is_told_with_support_and_cannot_restart(kyc, idenfy: FakeIdenfy) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    idenfy.finish(scan_ref, "DENIED", autoDocument="DOC_EXPIRED", autoFace="FACE_MATCH")
    got = state(url, session, "denied")
    assert got["reasons"] == ["DOC_EXPIRED"] and not got["may_start"]
    page = session.get(f"{url}/kyc", timeout=30).text
    assert "could not verify your identity" in page and scan_ref in page and "write to" in page
    again = session.post(
        f"{url}/kyc", data={"csrf_token": user.csrf_token}, allow_redirects=False, timeout=30
    )
    assert again.status_code == 303 and again.headers["Location"] == "/kyc"
    assert len(idenfy.token_requests) == 1


def test_suspected_then_approved_by_review_and_a_late_preliminary_changes_nothing(
    kyc, idenfy: FakeIdenfy
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    auto = idenfy.body(scan_ref, final=False, overall="SUSPECTED", fraudTags=["DOC_MOBILE_PHOTO"])
    assert idenfy.send("IDENTIFICATION_AUTO_FINISHED", auto) == 200
    wait_until(lambda: KycEvent.select().count() == 1, what="auto result")
    assert session.get(f"{url}/kyc", headers=JSON, timeout=30).json()["reviewing"]
    manual = idenfy.body(
        scan_ref,
        final=True,
        overall="APPROVED",
        manualDocument="DOC_VALIDATED",
        manualFace="FACE_MATCH",
    )
    assert idenfy.send("IDENTIFICATION_MANUAL_FINISHED", manual) == 200
    state(url, session, "approved")
    late = idenfy.body(scan_ref, final=False, overall="DENIED")
    assert idenfy.send("IDENTIFICATION_AUTO_FINISHED", late) == 200
    wait_until(lambda: KycEvent.select().count() == 3, what="late result")
    assert KycVerification.get().status == "approved"
    assert [e.effect for e in KycEvent.select().order_by(KycEvent.id)] == [
        "applied",
        "applied",
        "ignored",
    ]


def test_expired_then_started_again(kyc, idenfy: FakeIdenfy) -> None:
    url, session, user = kyc
    first = start(url, session, user)
    assert idenfy.expire(first) == 200
    got = state(url, session, "expired")
    assert got["may_start"]
    assert "expired before it was finished" in session.get(f"{url}/kyc", timeout=30).text
    second = start(url, session, user)
    assert second != first and len(idenfy.token_requests) == 2
    assert KycVerification.get().status == "pending"


def test_tampered_or_unsigned_webhooks_are_refused_and_nothing_is_recorded(
    kyc, idenfy: FakeIdenfy
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    body = json.dumps(idenfy.body(scan_ref, final=True, overall="DENIED")).encode()
    good = idenfy.body(scan_ref, final=True, overall="APPROVED")
    signature = __import__("hmac").new(SIGNING_KEY.encode(), body, "sha256").hexdigest()
    tampered = json.dumps(good).encode()
    idenfy.attempts = 1
    assert idenfy.send("IDENTIFICATION_AUTO_FINISHED", tampered, signature=signature) == 400
    assert idenfy.send("IDENTIFICATION_AUTO_FINISHED", good, signature=None) == 400
    assert idenfy.send("IDENTIFICATION_AUTO_FINISHED", good, signature="zz" * 32) == 400
    answer = requests.post(f"{url}/webhooks/idenfy", data=b"{}", timeout=30)
    assert answer.status_code == 400 and "Idenfy-Signature" in answer.text
    assert KycEvent.select().count() == 0 and KycVerification.get().status == "pending"


def test_a_duplicate_delivered_twice_changes_nothing(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    body = json.dumps(idenfy.body(scan_ref, final=True, overall="APPROVED")).encode()
    assert idenfy.send("IDENTIFICATION_AUTO_FINISHED", body) == 200
    assert idenfy.send("IDENTIFICATION_AUTO_FINISHED", body) == 200
    pg_stack.process("worker").wait_lines(
        "message.processed", '"actor_name": "record_kyc_result"', count=2
    )
    assert KycEvent.select().count() == 1
    assert KycVerification.get().status == "approved"


def test_operator_decides_a_suspected_verification_through_hero_admin(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    idenfy.finish(scan_ref, "SUSPECTED", fraudTags=["DUPLICATE_FACE"])
    assert state(url, session, "suspected")["reasons"] == ["DUPLICATE_FACE"]
    assert "support team" in session.get(f"{url}/kyc", timeout=30).text

    unsigned = hero_admin(
        "kyc",
        "set",
        user.address,
        "--status",
        "approved",
        "--reason",
        "x",
        env=pg_stack.admin_env(with_key=False),
    )
    assert unsigned.returncode == 1 and "unsigned" in unsigned.stdout
    done_ = hero_admin(
        "kyc",
        "set",
        user.address,
        "--status",
        "approved",
        "--reason",
        "passport seen on call",
        env=pg_stack.admin_env(),
    )
    assert done_.returncode == 0, done_.stderr
    assert "set to approved (was suspected)" in done_.stdout
    shown = hero_admin("kyc", "show", user.address, "--json", env=pg_stack.admin_env())
    view = json.loads(shown.stdout)
    assert view["status"] == "approved" and view["decided_by"] == "operator"
    assert [h["source"] for h in view["history"]] == ["idenfy", "operator"]
    assert view["history"][1]["note"] == "passport seen on call"
    assert AdminAudit.select().where(AdminAudit.action == "kyc_set").count() == 2
    human = hero_admin("kyc", "show", user.address, env=pg_stack.admin_env())
    assert human.returncode == 0 and "approved" in human.stdout and scan_ref in human.stdout
    assert buy(url, session, user).status_code == 202


def test_sandbox_approve_and_deny_travel_the_real_webhook_route(pg_stack: Stack) -> None:
    pg_stack.env.update(HERO_KYC_PROVIDER="sandbox", HERO_KYC_REQUIRED_FOR="plan")
    url = pg_stack.gateway()
    pg_stack.worker()
    session = requests.Session()
    user = login(session, url)
    form = {"csrf_token": user.csrf_token}
    started = session.post(f"{url}/kyc", data=form, allow_redirects=False, timeout=30)
    assert started.status_code == 303 and started.headers["Location"].startswith(
        f"{url}/kyc/sandbox/"
    )
    page = session.get(started.headers["Location"], timeout=30)
    assert 'id="approve"' in page.text and 'id="deny"' in page.text
    stranger = requests.Session()
    login(stranger, url, BOB_KEY)
    assert stranger.get(started.headers["Location"], timeout=30).status_code == 404
    decided = session.post(
        started.headers["Location"],
        data={**form, "outcome": "approve"},
        allow_redirects=False,
        timeout=30,
    )
    assert decided.status_code == 303 and decided.headers["Location"] == "/kyc"
    assert state(url, session, "approved")["provider"] == "sandbox"
    assert KycEvent.get().source == "sandbox"
