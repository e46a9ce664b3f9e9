"""A missed iDenfy webhook recovered by one status call, through the real CLI and worker
on PostgreSQL and RabbitMQ, against the stand-in iDenfy."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests

import actors
import messages
from models import Alert
from models.kyc import KycEvent, KycVerification
from models.kyc_checks import KycStatusCheck
from tests.support.fake_idenfy import FakeIdenfy, error
from tests.support.kyc_stack import SIGNING_KEY, idenfy, kyc, start  # noqa: F401 - fixtures
from tests.support.login import BOB_KEY, JSON, login
from tests.support.procs import hero_admin, wait_until
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy
from wire.times import utcnow

#: Where the webhooks go while our endpoint is down (nothing listens there).
DOWN = "http://127.0.0.1:9/webhooks/idenfy"


def row_of(scan_ref: str) -> KycVerification:
    return KycVerification.get(KycVerification.scan_ref == scan_ref)


def missed(idenfy: FakeIdenfy, scan_ref: str, overall: str, **codes: Any) -> None:
    """The user finishes while our webhook endpoint is down: both deliveries fail."""
    good_url, idenfy.webhook_url = idenfy.webhook_url, DOWN
    assert idenfy.finish(scan_ref, overall, **codes) == [0]
    idenfy.webhook_url = good_url
    assert row_of(scan_ref).status == "pending"


def check(pg_stack: Stack, address: str, *extra: str, **env: str) -> tuple[int, str]:
    done = hero_admin("kyc", "check", address, *extra, env={**pg_stack.admin_env(), **env})
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def run_job(pg_stack: Stack, times: int) -> None:
    """Send the scheduler's message, as the scheduler does, and wait for the worker."""
    actors.build_broker(pg_stack.env["HERO_AMQP_URL"])
    try:
        actors.send(messages.CheckPendingKyc())
    finally:
        actors.build_broker(None)
    pg_stack.process("worker").wait_lines(
        "message.processed", '"actor_name": "check_pending_kyc"', count=times
    )


def test_a_missed_webhook_is_recovered_by_kyc_check(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    missed(idenfy, scan_ref, "APPROVED", autoDocument="DOC_VALIDATED", autoFace="FACE_MATCH")

    code, out = check(pg_stack, user.address)
    assert code == 0, out
    assert "iDenfy says APPROVED" in out and "set to approved (was pending)" in out
    assert idenfy.status_calls == [scan_ref]
    event = KycEvent.get()
    assert (event.source, event.event_type, event.effect) == ("idenfy", "STATUS_CHECK", "applied")
    assert session.get(f"{url}/kyc", headers=JSON, timeout=30).json()["status"] == "approved"

    code, out = check(pg_stack, user.address, "--json")
    view = json.loads(out)
    assert code == 0 and view["outcome"] == "duplicate"
    assert view["idenfy"]["overall"] == "APPROVED" and view["after"]["status"] == "approved"
    assert KycEvent.select().count() == 1


def test_a_missed_webhook_is_recovered_by_the_scheduled_job_once(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    missed(idenfy, scan_ref, "DENIED", autoDocument="DOC_EXPIRED", autoFace="FACE_MATCH")
    run_job(pg_stack, 1)
    assert idenfy.status_calls == []  # not yet past HERO_KYC_CHECK_AFTER_S
    KycVerification.update(updated_at=utcnow() - dt.timedelta(hours=3)).execute()

    run_job(pg_stack, 2)
    wait_until(lambda: row_of(scan_ref).status == "denied", what="denied by the status answer")
    assert json.loads(row_of(scan_ref).reasons) == ["DOC_EXPIRED"]
    assert KycStatusCheck.get().outcome == "answered"
    run_job(pg_stack, 3)
    assert idenfy.status_calls == [scan_ref]
    assert KycEvent.get().event_type == "STATUS_CHECK"


@pytest.mark.parametrize("first", ["status", "webhook"])
def test_a_webhook_and_a_status_answer_apply_one_verdict_in_either_order(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack, first: str
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    if first == "status":
        missed(idenfy, scan_ref, "SUSPECTED", fraudTags=["DUPLICATE_FACE"])
        assert check(pg_stack, user.address)[0] == 0
        late = idenfy.deliveries[-1]
        assert idenfy.send(late["event"], late["body"]) == 200
    else:
        assert idenfy.finish(scan_ref, "SUSPECTED", fraudTags=["DUPLICATE_FACE"]) == [200]
        wait_until(lambda: KycEvent.select().count() == 1, what="webhook recorded")
        code, out = check(pg_stack, user.address)
        assert code == 0 and "nothing changed, still suspected" in out, out
    wait_until(lambda: KycEvent.select().count() == 2, what="both recorded")
    events = list(KycEvent.select().order_by(KycEvent.id))
    assert [e.effect for e in events] == ["applied", "ignored"]
    assert [e.event_type == "STATUS_CHECK" for e in events] == [first == "status"] + [
        first == "webhook"
    ]
    assert row_of(scan_ref).status == "suspected"
    assert json.loads(row_of(scan_ref).reasons) == ["DUPLICATE_FACE"]


def test_a_later_manual_webhook_still_wins_over_a_reviewing_status(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    idenfy.sessions[scan_ref]["status"]["status"] = "REVIEWING"
    code, out = check(pg_stack, user.address)
    assert code == 0 and "iDenfy says REVIEWING (not final)" in out, out
    assert session.get(f"{url}/kyc", headers=JSON, timeout=30).json()["reviewing"]
    idenfy.finish(scan_ref, "SUSPECTED", manual="APPROVED")
    wait_until(lambda: row_of(scan_ref).status == "approved", what="manual verdict")


def test_a_failing_status_call_leaves_the_session_pending_and_says_so(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    stranger = requests.Session()
    other = login(stranger, url, BOB_KEY)
    code, out = check(pg_stack, other.address)
    assert code == 1 and "no verification session" in out

    scan_ref = start(url, session, user)
    missed(idenfy, scan_ref, "APPROVED")
    idenfy.status_faults[scan_ref] = [(500, error("INTERNAL_ERROR", "Internal error."))]
    code, out = check(pg_stack, user.address)
    assert code == 4 and "INTERNAL_ERROR" in out and "try again later" in out, out

    proxy = TcpProxy(("127.0.0.1", int(idenfy.url.rsplit(":", 1)[1]))).up()
    proxy.down()
    code, out = check(pg_stack, user.address, HERO_IDENFY_API_BASE=f"http://127.0.0.1:{proxy.port}")
    assert code == 4 and "could not be reached" in out and "still pending" in out, out

    code, out = check(pg_stack, user.address, HERO_IDENFY_API_SECRET="wrong")
    assert code == 4 and "check HERO_IDENFY_API_KEY" in out, out

    idenfy.status_faults[scan_ref] = [(200, {"scanRef": scan_ref, "status": "APPROVED"})]
    code, out = check(pg_stack, user.address, "--json")
    view = json.loads(out)
    assert code == 1 and view["outcome"] == "unusable" and "clientId: missing" in view["message"]

    assert row_of(scan_ref).status == "pending" and KycEvent.select().count() == 0
    assert check(pg_stack, user.address)[0] == 0
    assert row_of(scan_ref).status == "approved"


def test_the_job_leaves_a_session_that_keeps_failing_for_an_operator(
    kyc, idenfy: FakeIdenfy, pg_stack: Stack
) -> None:
    url, session, user = kyc
    scan_ref = start(url, session, user)
    missed(idenfy, scan_ref, "APPROVED")
    idenfy.status_faults[scan_ref] = [(200, "garbage")]
    KycVerification.update(updated_at=utcnow() - dt.timedelta(hours=3)).execute()
    run_job(pg_stack, 1)
    assert KycStatusCheck.get().outcome == "failed"
    alert = Alert.get(Alert.kind == "kyc_status_check")
    assert alert.subject == scan_ref and "hero-admin kyc check" in alert.message
    assert row_of(scan_ref).status == "pending"
    run_job(pg_stack, 2)
    assert idenfy.status_calls == [scan_ref]
    shown = hero_admin("kyc", "show", user.address, "--json", env=pg_stack.admin_env())
    assert json.loads(shown.stdout)["status_check"] == {
        "outcome": "failed",
        "attempts": 1,
        "note": "body: not a JSON object",
    }
    human = hero_admin("kyc", "show", user.address, env=pg_stack.admin_env()).stdout
    assert "scheduled status check: failed after 1 call(s) (body: not a JSON object)" in human
