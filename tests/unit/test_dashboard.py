"""The dashboard's data and its server-side SVG chart."""

from __future__ import annotations

import datetime as dt

from actors.ledger import post
from actors.usage import apply_batch
from gateway.charts import DayUsage, usage_svg
from gateway.dashboard import dashboard_for
from models import Account, Billing

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
#: The credit grace (HERO_SUSPEND_AFTER_S) the dashboard counts down.
GRACE = 86_400


def test_dashboard_of_an_unknown_address_says_so(sqlite_db: str) -> None:
    assert dashboard_for(USER, now=NOW, suspend_after_s=GRACE).exists is False


def test_dashboard_shows_balance_tier_entries_and_usage(sqlite_db: str) -> None:
    account = Account.create(address=USER)
    Billing.create(account=account, first_paid_at=NOW - dt.timedelta(days=10))
    post(
        account,
        amount_cents=2000,
        kind="payment",
        ref="stripe:pi_1",
        details={"provider": "stripe"},
    )
    moment = (NOW - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    apply_batch(
        [
            {
                "key": f"n:{i}",
                "node": "n",
                "user": USER,
                "resource_kind": "llm_token",
                "applies_to": "llm",
                "quantity": 5,
                "amount_cents": 100,
                "occurred_at": moment,
            }
            for i in range(3)
        ],
        via="git",
        now=NOW,
    )
    view = dashboard_for(USER, now=NOW, suspend_after_s=GRACE)
    assert view.balance_cents == 2000 - 150 and not view.overdrawn
    assert (view.tier, view.next_tier, view.days_to_next) == ("week", "month", 20)
    assert [e.reason for e in view.entries] == [
        "Usage: 3 records reported by Hero hosts",
        "Top-up by card",
    ]
    yesterday = [d for d in view.usage if d.day == (NOW - dt.timedelta(days=1)).date()]
    assert yesterday[0].cents == {"llm": 150}
    assert len(view.usage) == 14


def test_overdrawn_accounts_are_flagged(sqlite_db: str) -> None:
    account = Account.create(address=USER)
    post(account, amount_cents=-5, kind="usage", ref="u")
    assert dashboard_for(USER, now=NOW, suspend_after_s=GRACE).overdrawn


def test_usage_svg_stacks_categories_with_titles() -> None:
    svg = usage_svg(
        [
            DayUsage(dt.date(2026, 11, 20), {"llm": 150, "vm": 50}),
            DayUsage(dt.date(2026, 11, 21), {}),
        ]
    )
    assert svg.count("<rect") == 2
    assert "LLM: $1.50" in svg and "VMs: $0.50" in svg
    assert 'role="img"' in svg and "$2.00 over 2 days" in svg
