"""The KYC gate's state: results recorded once, the final one wins, operators decide."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest

from actors.kyc import gate_refusal, operator_set, record, status_of
from adapters.kyc.base import KycSession
from models import Account, Alert
from models.errors import AdminRefused
from models.kyc import KycEvent, KycVerification
from models.kyc_gate import KycClosed, start_session
from models.kyc_rules import reasons_of, refusal, step_of
from tests.support.deps import DepsSwitch
from wire.times import utcnow

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


class Provider:
    name = "idenfy"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self, *, client_id: str, return_url: str) -> KycSession:
        self.calls.append(client_id)
        return KycSession(
            f"https://idv.example/r/{len(self.calls)}", f"scan-{len(self.calls)}", 3600
        )

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Any]:
        return []


@pytest.fixture(autouse=True)
def gate(deps: DepsSwitch) -> None:
    deps.set(kyc_required_for="plan")


@pytest.fixture
def account(sqlite_db: str) -> Account:
    return Account.create(address=ADDRESS, created_at=utcnow())


def result(
    scan_ref: str | None, client_id: str | None, overall: str, **over: Any
) -> dict[str, Any]:
    body = {"scan_ref": scan_ref, "client_id": client_id, "overall": overall, **over}
    fields: dict[str, Any] = {
        "source": "idenfy",
        "event_type": "IDENTIFICATION_AUTO_FINISHED",
        "final": True,
        "scan_ref": scan_ref,
        "client_id": client_id,
        "overall": overall,
        "tags": {},
        **over,
    }
    fields.setdefault("digest", hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest())
    return fields


def started(account: Account, provider: Provider | None = None) -> KycVerification:
    start_session(account, provider or Provider(), return_url="https://h/kyc/return", now=NOW)
    return KycVerification.get(KycVerification.account == account)


def test_one_open_session_is_reused_never_paid_twice(account: Account) -> None:
    provider = Provider()
    first = start_session(account, provider, return_url="https://h/r", now=NOW)
    again = start_session(account, provider, return_url="https://h/r", now=NOW)
    assert first == again and len(provider.calls) == 1
    later = NOW + dt.timedelta(hours=2)  # the link expired: a new session
    assert start_session(account, provider, return_url="https://h/r", now=later) != first
    row = KycVerification.get()
    assert row.client_id.startswith("hk") and ADDRESS not in row.client_id
    assert provider.calls == [row.client_id, row.client_id]


def test_suspected_then_manual_approval_wins_and_a_late_preliminary_changes_nothing(
    account: Account,
) -> None:
    row = started(account)
    auto = result(row.scan_ref, row.client_id, "SUSPECTED", final=False)
    assert record(auto, now=NOW) == "applied"
    assert status_of(account)["status"] == "pending" and status_of(account)["reviewing"]
    assert gate_refusal(account, "plan") is not None
    manual = result(
        row.scan_ref,
        row.client_id,
        "APPROVED",
        event_type="IDENTIFICATION_MANUAL_FINISHED",
        manual_document="DOC_VALIDATED",
        manual_face="FACE_MATCH",
    )
    assert record(manual, now=NOW) == "applied"
    assert record(manual, now=NOW) == "duplicate"
    late = result(row.scan_ref, row.client_id, "DENIED", final=False, digest="late")
    assert record(late, now=NOW) == "ignored"
    assert status_of(account)["status"] == "approved"
    assert gate_refusal(account, "plan") is None
    assert KycEvent.select().count() == 3


def test_manual_result_may_overturn_a_final_automatic_one(account: Account) -> None:
    row = started(account)
    record(result(row.scan_ref, row.client_id, "APPROVED"), now=NOW)
    record(
        result(
            row.scan_ref,
            row.client_id,
            "DENIED",
            event_type="IDENTIFICATION_MANUAL_FINISHED",
            manual_document="DOC_FAKE",
        ),
        now=NOW,
    )
    state = status_of(account)
    assert state["status"] == "denied" and state["reasons"] == ["DOC_FAKE"]
    assert not state["may_start"]
    with pytest.raises(KycClosed):
        start_session(account, Provider(), return_url="https://h/r", now=NOW)


def test_expiry_after_a_verdict_is_history_only_and_expiry_alone_allows_a_new_start(
    account: Account,
) -> None:
    row = started(account)
    expired = result(row.scan_ref, row.client_id, "EXPIRED", event_type="IDENTIFICATION_EXPIRED")
    assert record(expired, now=NOW) == "applied"
    assert status_of(account)["status"] == "expired" and status_of(account)["may_start"]
    row = started(account)
    record(result(row.scan_ref, row.client_id, "APPROVED"), now=NOW)
    old = result("scan-1", row.client_id, "DENIED", digest="old-session")
    assert record(old, now=NOW) == "ignored"
    assert status_of(account)["status"] == "approved"


def test_result_for_an_unknown_session_is_kept_and_alerted(account: Account) -> None:
    assert record(result("nobody", "hk-unknown", "APPROVED"), now=NOW) == "unmatched"
    assert KycEvent.get().account_id is None
    assert Alert.get().kind == "kyc_unmatched"


def test_operator_decision_stands_against_later_provider_results(account: Account) -> None:
    row = started(account)
    out = operator_set(
        {
            "nonce": "n1",
            "args": {"address": ADDRESS, "status": "approved", "reason": "checked by phone"},
        }
    )
    assert out["status"] == "approved"
    record(
        result(row.scan_ref, row.client_id, "DENIED", event_type="IDENTIFICATION_MANUAL_FINISHED"),
        now=NOW,
    )
    state = status_of(account, history=True)
    assert state["status"] == "approved" and state["decided_by"] == "operator"
    assert [h["source"] for h in state["history"]] == ["operator", "idenfy"]
    assert state["history"][0]["note"] == "checked by phone"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"address": "nope", "status": "approved", "reason": "x"}, "address:"),
        ({"address": ADDRESS, "status": "maybe", "reason": "x"}, "status:"),
        ({"address": ADDRESS, "status": "denied", "reason": " "}, "reason:"),
        ({"address": "400::1", "status": "denied", "reason": "x"}, "no account"),
    ],
)
def test_operator_decision_refuses_bad_arguments(
    account: Account, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(AdminRefused, match=field):
        operator_set({"nonce": "n", "args": args})


def test_rules() -> None:
    assert step_of({"event_type": "DOCUMENT_EXPIRATION"}).state is None
    assert step_of({"event_type": "IDENTIFICATION_CANCELLED"}).state == "cancelled"
    assert step_of({"event_type": "IDENTIFICATION", "overall": "APPROVED"}).state == "approved"
    assert (
        step_of({"event_type": "IDENTIFICATION", "overall": "REVIEWING", "final": True}).state
        == "pending"
    )
    assert reasons_of(
        {
            "auto_document": "DOC_VALIDATED",
            "auto_face": "FACE_MISMATCH",
            "tags": {"fraudTags": ["VIRTUAL_CAMERA"]},
        }
    ) == ["FACE_MISMATCH", "VIRTUAL_CAMERA"]
    assert refusal("plan", "approved", required_for="plan") is None
    assert refusal("topup", "none", required_for="plan") is None
    assert "before topping up" in str(refusal("topup", "none", required_for="topup"))
    assert "support" in str(refusal("plan", "suspected", required_for="plan"))
