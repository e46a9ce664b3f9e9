"""The discount ladder: tiers by paid tenure, multipliers by category."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.ladder import multiplier_quarters, next_tier, refresh, tier_at
from models import Account, Billing, Notification

PAID = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("days", "tier", "quarters"),
    [
        (3, "none", 4),
        (6.99, "none", 4),
        (7, "week", 2),
        (8, "week", 2),
        (29.9, "week", 2),
        (30, "month", 1),
        (31, "month", 1),
        (400, "month", 1),
    ],
)
@pytest.mark.parametrize("category", ["hero_os_hourly", "llm"])
def test_discounted_categories_follow_the_ladder(days, tier, quarters, category) -> None:
    moment = PAID + dt.timedelta(days=days)
    assert tier_at(PAID, moment) == tier
    assert multiplier_quarters(tier_at(PAID, moment), category) == quarters


@pytest.mark.parametrize("days", [0, 8, 31])
def test_vm_usage_is_never_discounted(days) -> None:
    assert multiplier_quarters(tier_at(PAID, PAID + dt.timedelta(days=days)), "vm") == 4


def test_an_account_that_never_paid_pays_full_price() -> None:
    assert tier_at(None, PAID) == "none"
    assert next_tier(None, PAID) is None


def test_usage_before_the_first_payment_pays_full_price() -> None:
    assert tier_at(PAID, PAID - dt.timedelta(days=40)) == "none"


def test_next_tier_counts_whole_days_up() -> None:
    assert next_tier(PAID, PAID + dt.timedelta(days=6, hours=1)) == ("week", 1)
    assert next_tier(PAID, PAID + dt.timedelta(days=10)) == ("month", 20)
    assert next_tier(PAID, PAID + dt.timedelta(days=30)) is None


def test_refresh_updates_the_shown_tier_and_notifies_each_tier_once(sqlite_db: str) -> None:
    account = Account.create(address="520:c662:fd00:9e92:5d99:34ed:ab8:82ab")
    Billing.create(account=account, first_paid_at=PAID)
    refresh(PAID + dt.timedelta(days=8))
    refresh(PAID + dt.timedelta(days=9))
    assert Billing.get().discount_tier == "week"
    refresh(PAID + dt.timedelta(days=31))
    assert Billing.get().discount_tier == "month"
    assert [n.key.split(":")[1] for n in Notification.select().order_by(Notification.id)] == [
        "week",
        "month",
    ]
