"""The scheduled status call: once per session whose webhook never came, never polling,
and one session that fails or answers garbage does not stop the others."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from typing import Any

import pytest

import actors
import messages
from actors.kyc import record
from actors.kyc_checks import check_pending_kyc
from adapters.kyc import KycAnswerInvalid, KycKeysRefused, KycRetryLater
from adapters.kyc.idenfy_status import parse_idenfy_status
from messages.facts import KycChecked
from models import Account, Alert, db
from models.kyc import KycEvent, KycVerification
from models.kyc_checks import KycStatusCheck
from runtime.scheduler import JOBS
from settings import ConfigError, Settings
from tests.support.deps import DepsSwitch
from tests.support.message_contract import Sent, check_message
from wire.times import utcnow

AFTER_S = 7200


class Source:
    """iDenfy's status call as a script: per scanRef, what each call does."""

    def __init__(self, **script: Any) -> None:
        self.script = script
        self.calls: list[str] = []

    def status(self, scan_ref: str) -> KycChecked:
        self.calls.append(scan_ref)
        todo = self.script.get(scan_ref, "APPROVED")
        if isinstance(todo, list):
            todo = todo.pop(0) if todo else "APPROVED"
        if isinstance(todo, Exception):
            raise todo
        raw = json.dumps({"scanRef": scan_ref, "clientId": f"c-{scan_ref}", "status": todo})
        return KycChecked(parse_idenfy_status(raw.encode(), scan_ref=scan_ref).as_message())


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    recorder = Sent()
    monkeypatch.setattr(actors, "send", recorder)
    return recorder


def session(n: int, *, age_s: int, status: str = "pending", rank: int = 0) -> str:
    account = Account.create(address=f"520:c662:fd00:9e92:5d99:34ed:ab8:{n:x}", created_at=utcnow())
    scan_ref = f"scan-{n}"
    KycVerification.create(
        account=account,
        client_id=f"c-{scan_ref}",
        provider="idenfy",
        status=status,
        rank=rank,
        scan_ref=scan_ref,
        updated_at=utcnow() - dt.timedelta(seconds=age_s),
    )
    return scan_ref


def run(deps: DepsSwitch, source: Source) -> dict[str, int]:
    deps.set(kyc_status=source, kyc_check_after_s=AFTER_S)
    return check_pending_kyc()


def test_the_scheduler_runs_the_check_as_a_declared_actor_with_its_arguments() -> None:
    [job] = [j for j in JOBS if j.actor == "check_pending_kyc"]
    check_message(job.message)
    assert job.every_ms == 15 * 60 * 1000


def test_every_scheduled_job_names_a_declared_actor_with_the_right_arguments() -> None:
    for job in JOBS:
        check_message(job.message)


def test_a_session_pending_past_the_wait_is_asked_about_once(
    sqlite_db: str, deps: DepsSwitch, sent: Sent
) -> None:
    old = session(1, age_s=AFTER_S + 60)
    young = session(2, age_s=AFTER_S - 60)
    reviewing = session(3, age_s=AFTER_S + 60, rank=1)
    decided = session(4, age_s=AFTER_S * 3, status="approved", rank=2)
    source = Source(**{reviewing: "REVIEWING"})
    assert run(deps, source) == {"answered": 2}
    assert sorted(source.calls) == [old, reviewing] and young not in source.calls
    assert decided not in source.calls
    assert [m.actor for m in sent.messages] == ["record_kyc_result"] * 2
    for message in sent.messages:
        record(message.kwargs["result"], now=utcnow())
    assert KycVerification.get(KycVerification.scan_ref == old).status == "approved"
    # Still pending (under review) but checked: the job does not ask again.
    assert KycVerification.get(KycVerification.scan_ref == reviewing).status == "pending"
    assert run(deps, source) == {} and len(source.calls) == 2
    assert {c.scan_ref: c.outcome for c in KycStatusCheck.select()} == {
        old: "answered",
        reviewing: "answered",
    }


def test_an_answer_that_changes_nothing_still_counts_as_the_one_check(
    sqlite_db: str, deps: DepsSwitch, sent: Sent
) -> None:
    scan = session(1, age_s=AFTER_S + 60)
    source = Source(**{scan: "ACTIVE"})
    run(deps, source)
    record(sent.messages[0].kwargs["result"], now=utcnow())
    assert KycVerification.get().status == "pending" and KycEvent.get().effect == "ignored"
    run(deps, source)
    assert source.calls == [scan]


def test_a_status_we_do_not_know_stays_pending_with_an_alert(
    sqlite_db: str, deps: DepsSwitch, sent: Sent
) -> None:
    scan = session(1, age_s=AFTER_S + 60)
    assert run(deps, Source(**{scan: "ON_HOLD"})) == {"answered": 1}
    assert record(sent.messages[0].kwargs["result"], now=utcnow()) == "ignored"
    assert KycVerification.get().status == "pending"
    assert Alert.get(Alert.kind == "kyc_status_unknown").subject == scan


def test_the_wait_before_the_check_is_a_setting_no_shorter_than_the_token_and_session() -> None:
    assert Settings.from_env({}).kyc_check_after_s == 7200
    assert Settings.from_env({"HERO_KYC_CHECK_AFTER_S": "4200"}).kyc_check_after_s == 4200
    with pytest.raises(ConfigError, match="HERO_KYC_CHECK_AFTER_S"):
        Settings.from_env({"HERO_KYC_CHECK_AFTER_S": "600"})


def test_a_poison_session_is_left_for_an_operator_and_the_others_are_checked(
    sqlite_db: str, deps: DepsSwitch, sent: Sent
) -> None:
    garbage = session(1, age_s=AFTER_S + 300)
    surprise = session(2, age_s=AFTER_S + 200)
    fine = session(3, age_s=AFTER_S + 100)
    source = Source(**{garbage: KycAnswerInvalid("status: missing"), surprise: RuntimeError("bug")})
    assert run(deps, source) == {"failed": 2, "answered": 1}
    assert source.calls == [garbage, surprise, fine]
    assert [m.kwargs["result"]["scan_ref"] for m in sent.messages] == [fine]
    alerts = {a.subject: a.message for a in Alert.select().where(Alert.kind == "kyc_status_check")}
    assert set(alerts) == {garbage, surprise} and "status: missing" in alerts[garbage]
    assert "hero-admin kyc check" in alerts[garbage]
    assert run(deps, source) == {} and len(source.calls) == 3


def test_a_5xx_is_tried_by_later_runs_then_left_and_the_others_go_on(
    sqlite_db: str, deps: DepsSwitch, sent: Sent
) -> None:
    flaky = session(1, age_s=AFTER_S + 300)
    fine = session(2, age_s=AFTER_S + 100)
    source = Source(**{flaky: [KycRetryLater("iDenfy answered 500", answered=True)] * 3})
    assert run(deps, source) == {"retry": 1, "answered": 1}
    assert run(deps, source) == {"retry": 1}
    assert run(deps, source) == {"failed": 1}
    assert run(deps, source) == {}
    assert source.calls == [flaky, fine, flaky, flaky]
    assert KycStatusCheck.get(KycStatusCheck.scan_ref == flaky).outcome == "failed"
    assert Alert.get(Alert.kind == "kyc_status_check").subject == flaky


def test_no_answer_ends_the_run_and_the_next_run_tries_again(
    sqlite_db: str, deps: DepsSwitch, sent: Sent
) -> None:
    first = session(1, age_s=AFTER_S + 300)
    second = session(2, age_s=AFTER_S + 100)
    source = Source(**{first: [KycRetryLater("iDenfy could not be reached", answered=False)]})
    assert run(deps, source) == {"retry": 1}
    assert source.calls == [first]
    assert run(deps, source) == {"answered": 2}
    assert source.calls == [first, first, second]


def test_refused_keys_stop_the_run_raise_one_alert_and_use_no_check(
    sqlite_db: str, deps: DepsSwitch, sent: Sent
) -> None:
    first = session(1, age_s=AFTER_S + 300)
    session(2, age_s=AFTER_S + 100)
    refused = KycKeysRefused("iDenfy refused the API keys: check HERO_IDENFY_API_KEY")
    source = Source(**{first: [refused, refused]})
    assert run(deps, source) == {"keys_refused": 1}
    assert run(deps, source) == {"keys_refused": 1}
    assert source.calls == [first, first]
    assert Alert.select().where(Alert.kind == "kyc_status_keys").count() == 1
    assert KycStatusCheck.get().attempts == 0
    assert run(deps, source) == {"answered": 2}


def test_without_idenfy_the_job_does_nothing(sqlite_db: str, deps: DepsSwitch) -> None:
    session(1, age_s=AFTER_S * 2)
    deps.set(kyc_status=None)
    assert check_pending_kyc() == {}
    assert messages.CheckPendingKyc().actor == "check_pending_kyc"


def test_a_status_answer_and_the_webhook_apply_one_verdict_in_either_order(
    sqlite_db: str,
) -> None:
    for n, order in enumerate(("status_first", "webhook_first")):
        scan = session(n + 1, age_s=AFTER_S * 2)
        raw = json.dumps({"scanRef": scan, "clientId": f"c-{scan}", "status": "DENIED"}).encode()
        status = parse_idenfy_status(raw, scan_ref=scan).as_message()
        webhook = {
            **status,
            "event_type": "IDENTIFICATION_AUTO_FINISHED",
            "digest": hashlib.sha256(raw).hexdigest(),
        }
        first, second = (status, webhook) if order == "status_first" else (webhook, status)
        assert record(first, now=utcnow()) == "applied"
        assert record(second, now=utcnow()) == "ignored"
        assert KycVerification.get(KycVerification.scan_ref == scan).status == "denied"


def at_once(*results: dict[str, Any]) -> tuple[list[str], list[BaseException]]:
    """Record *results* from one thread each, released together; effects and failures."""
    start = threading.Barrier(len(results))
    effects: list[str] = []
    failures: list[BaseException] = []

    def run(result: dict[str, Any]) -> None:
        try:
            start.wait()
            effects.append(record(result, now=utcnow()))
        except BaseException as exc:  # reported by the caller's assertion
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(r,)) for r in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return effects, failures


def test_a_status_answer_and_the_webhook_at_the_same_moment_apply_one_verdict(
    pg_db: str,
) -> None:
    for n in range(10):
        scan = session(n + 1, age_s=AFTER_S * 2)
        raw = json.dumps({"scanRef": scan, "clientId": f"c-{scan}", "status": "APPROVED"}).encode()
        status = parse_idenfy_status(raw, scan_ref=scan).as_message()
        webhook = {
            **status,
            "event_type": "IDENTIFICATION_AUTO_FINISHED",
            "digest": hashlib.sha256(raw).hexdigest(),
        }
        effects, failures = at_once(status, webhook)
        assert failures == [] and sorted(effects) == ["applied", "ignored"]
        events = KycEvent.select().where(KycEvent.scan_ref == scan)
        assert sorted(e.effect for e in events) == ["applied", "ignored"]
        assert KycVerification.get(KycVerification.scan_ref == scan).status == "approved"
