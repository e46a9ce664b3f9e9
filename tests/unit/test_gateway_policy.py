"""The gateway shows and refuses by the policy ``create_app`` was given (the credit grace,
``HERO_KYC_REQUIRED_FOR``), never by the process's dependencies: each test installs the
opposite values there and sees the policy win."""

from __future__ import annotations

import datetime as dt
import uuid

import falcon.testing
import pytest

from actors import credit
from gateway.console import queries
from gateway.humantime import iso_utc
from gateway.policy import Policy
from models.credit import CreditState
from runtime.gateway import gateway_policy
from settings import Settings
from tests.support.deps import DepsSwitch
from tests.support.web import HTML, JSON, Sent, account_of, entry, logged_in, make_app

#: A grace no default has: ten minutes.
GRACE = 600


def client_with(policy: Policy, sent: Sent | None = None) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(None, sent or Sent(), policy=policy))


def topup(client: falcon.testing.TestClient) -> falcon.testing.Result:
    browser = logged_in(client)
    form = {"provider": "sandbox", "amount": "10", "csrf_token": browser.csrf()}
    return browser.post_form("/topup", form, JSON)


def test_a_topup_is_refused_when_the_policy_gates_it(sqlite_db: str, deps: DepsSwitch) -> None:
    deps.set(kyc_required_for="none")
    answer = topup(client_with(Policy(suspend_after_s=GRACE, kyc_required_for="topup")))
    assert answer.status_code == 403, answer.text
    assert answer.json["title"] == "Identity verification needed"


def test_a_topup_goes_through_when_the_policy_does_not(sqlite_db: str, deps: DepsSwitch) -> None:
    deps.set(kyc_required_for="topup")
    sent = Sent()
    answer = topup(client_with(Policy(suspend_after_s=GRACE, kyc_required_for="none"), sent))
    assert answer.status_code == 201, answer.text
    assert [actor for actor, _ in sent.calls][-2:] == ["record_topup", "note_checkout"]


@pytest.mark.parametrize(("required_for", "status"), [("plan", 403), ("none", 303)])
def test_buying_a_plan_is_gated_by_the_policy(
    sqlite_db: str, deps: DepsSwitch, required_for: str, status: int
) -> None:
    deps.set(kyc_required_for="none" if required_for == "plan" else "plan")
    client = client_with(Policy(suspend_after_s=GRACE, kyc_required_for=required_for))
    browser = logged_in(client)
    form = {"plan_id": "5vms", "request_id": uuid.uuid4().hex, "csrf_token": browser.csrf()}
    answer = browser.post_form("/plans", form, JSON if status == 403 else HTML)
    assert answer.status_code == status, answer.text
    if status == 303:  # sent to the workers, not to the verification page
        assert answer.headers["Location"] == f"/requests/{form['request_id']}"


def test_the_dashboard_dates_the_suspension_by_the_policys_grace(
    sqlite_db: str, deps: DepsSwitch
) -> None:
    deps.set(credit_policy=credit.CreditPolicy(suspend_after_s=86_400))
    client = client_with(Policy(suspend_after_s=GRACE, kyc_required_for="none"))
    browser = logged_in(client)
    account = account_of()
    entry(account, 100, kind="payment", ref="p")
    entry(account, -200, kind="usage", ref="u", details={"records": 1})
    since = CreditState.get(CreditState.account == account).exhausted_since
    assert since is not None

    page = browser.get("/", headers=HTML).text

    assert 'id="credit-exhausted"' in page
    assert f'datetime="{iso_utc(since + dt.timedelta(seconds=GRACE))}"' in page


def test_the_console_shows_a_verification_against_the_given_requirement(
    sqlite_db: str, deps: DepsSwitch
) -> None:
    deps.set(kyc_required_for="none")
    detail = queries.account_detail(account_of(), kyc_required_for="plan")
    assert detail["kyc"]["required_for"] == "plan"


def test_the_runtime_builds_the_policy_from_the_settings() -> None:
    settings = Settings.from_env({"HERO_SUSPEND_AFTER_S": "1200", "HERO_KYC_REQUIRED_FOR": "topup"})
    assert gateway_policy(settings) == Policy(suspend_after_s=1200, kyc_required_for="topup")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kyc_required_for": "always"}, "kyc_required_for"),
        ({"suspend_after_s": 0}, "suspend_after_s"),
    ],
)
def test_a_bad_policy_names_its_field(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"suspend_after_s": GRACE, "kyc_required_for": "none", **changes}
    with pytest.raises(ValueError, match=f"^{field}: "):
        Policy(**values)  # type: ignore[arg-type]
