"""One answer to "which plan does this account have": the dashboard, ``hero-admin user
show`` and the credit publisher read it through the same query, so a plan whose period
ended (still ``active`` until ``expire_plans`` runs) counts nowhere."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from cli.admin import main
from gateway.dashboard import dashboard_for
from models import Account, PlanSubscription
from models.plans import active_plan, active_plans
from wire.times import utcnow

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def _show() -> dict[str, object]:
    out = io.StringIO()
    assert main(["user", "show", ADDRESS, "--json"], out=out) == 0
    result: dict[str, object] = json.loads(out.getvalue())
    return result


def _plan(account: Account, *, period_end: dt.datetime) -> PlanSubscription:
    return PlanSubscription.create(
        request_id="r1",
        account=account,
        plan_id="5vms",
        price_cents=1000,
        vm_quota_total=5,
        period_end=period_end,
    )


@pytest.fixture
def account(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> Account:
    monkeypatch.setenv("HERO_DATABASE_URL", sqlite_db)
    monkeypatch.delenv("HERO_AMQP_URL", raising=False)
    account: Account = Account.create(address=ADDRESS)
    return account


def test_user_show_reports_no_plan_once_its_period_ended_like_the_dashboard(
    account: Account,
) -> None:
    # Given a plan still marked active whose period ended an hour ago
    _plan(account, period_end=utcnow() - dt.timedelta(hours=1))
    # Then neither the dashboard nor the operator's view reports it
    assert dashboard_for(ADDRESS, now=utcnow(), suspend_after_s=86_400).plan is None
    shown = _show()
    assert (shown["plan_id"], shown["vm_quota_total"]) == (None, 0)


def test_user_show_reports_a_plan_in_its_period_like_the_dashboard(account: Account) -> None:
    _plan(account, period_end=utcnow() + dt.timedelta(days=3))
    view = dashboard_for(ADDRESS, now=utcnow(), suspend_after_s=86_400)
    assert view.plan is not None and view.plan.plan_id == "5vms"
    assert _show()["plan_id"] == "5vms"


def test_the_single_and_batch_reads_agree_at_the_period_end(account: Account) -> None:
    end = dt.datetime(2026, 11, 21, 14, 0, tzinfo=dt.UTC)
    _plan(account, period_end=end)
    for now, counts in ((end - dt.timedelta(microseconds=1), True), (end, False)):
        single = active_plan(account, now)
        batch = active_plans([int(account.id)], now).get(int(account.id))
        assert (single is not None, batch is not None) == (counts, counts)
