"""The low-balance threshold: per account, set through an actor, and what it changes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as migrate_schema

from actors.ledger import BillingState, Posting, lock_billing, post, post_many
from actors.low_balance import set_low_balance
from actors.notify import render
from actors.runway import daily_rate_cents, runway_days
from models import Account, Billing, LedgerEntry, Notification, db, write_transaction
from models.accounts import DEFAULT_LOW_BALANCE_CENTS
from models.credit import CreditState
from models.migrations import LATEST_VERSION, SchemaVersion, migrate
from wire.times import utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def test_an_older_database_gets_the_threshold_column_at_its_default(sqlite_db: str) -> None:
    # Given a version-6 database with an account's billing row and no threshold column
    account = Account.create(address=USER)
    Billing.create(account=account, balance_cents=1234)
    migrate_schema(SchemaMigrator.from_database(db.obj).drop_column("billing", "low_balance_cents"))
    SchemaVersion.update(version=6).execute()

    done = migrate()

    assert done[0] == "applied 7: a low-balance threshold per account"
    assert SchemaVersion.get().version == LATEST_VERSION
    billing = Billing.get()
    assert billing.low_balance_cents == DEFAULT_LOW_BALANCE_CENTS
    assert billing.balance_cents == 1234


@pytest.fixture
def account(sqlite_db: str) -> Account:
    return Account.create(address=USER, email="ada@example.org")


def low_notes() -> list[dict[str, object]]:
    return [json.loads(n.payload) for n in Notification.select() if n.kind == "low_balance"]


def test_a_raised_threshold_makes_the_account_low_at_once_and_a_debit_under_it_emails(
    account: Account,
) -> None:
    post(account, amount_cents=2000, kind="payment", ref="p")
    assert CreditState.get().state == "ok"

    assert set_low_balance(USER, 2500) == "low"

    assert Billing.get().low_balance_cents == 2500
    assert CreditState.get().state == "low"  # written again for hosts and the dashboard
    assert low_notes() == []  # setting it is not a crossing: the user just saw the page


def test_the_crossing_is_the_accounts_own_threshold_and_is_emailed_once(account: Account) -> None:
    set_low_balance(USER, 1000)
    post(account, amount_cents=2000, kind="payment", ref="p")
    post(account, amount_cents=-700, kind="usage", ref="u1")  # 1300: above $10.00
    post(account, amount_cents=-700, kind="usage", ref="u2")  # 600: crosses $10.00
    post(account, amount_cents=-100, kind="usage", ref="u3")  # 500: already under
    [note] = low_notes()
    assert note == {
        "balance_cents": 600,
        "threshold_cents": 1000,
        "rate_cents_per_day": 200,  # $14.00 of usage over 7 days
        "runway_days": 3,  # $6.00 at $2.00 a day
    }
    # Topped up above it again, the next fall under it is a new crossing
    post(account, amount_cents=1000, kind="payment", ref="p2")  # 1500
    post(account, amount_cents=-600, kind="usage", ref="u4")  # 900
    assert [n["balance_cents"] for n in low_notes()] == [600, 900]


def test_a_threshold_of_zero_turns_the_warning_off(account: Account) -> None:
    set_low_balance(USER, 0)
    post(account, amount_cents=600, kind="payment", ref="p")
    post(account, amount_cents=-550, kind="usage", ref="u1")
    assert low_notes() == []
    assert CreditState.get().state == "ok"


@pytest.mark.parametrize("bad", [-1, 100_001, "500", 5.0, True])
def test_a_threshold_out_of_bounds_is_refused_and_changes_nothing(account: Account, bad) -> None:
    post(account, amount_cents=600, kind="payment", ref="p")
    assert set_low_balance(USER, bad) == "refused"
    assert Billing.get().low_balance_cents == DEFAULT_LOW_BALANCE_CENTS


def test_an_unknown_address_is_answered_not_raised(sqlite_db: str) -> None:
    assert set_low_balance("41f:9a01:3c22:7e10:aa55:1234:5678:9abc", 700) == "no_account"


def test_a_usage_batch_crosses_each_accounts_own_threshold(account: Account) -> None:
    other = Account.create(address="41f:9a01:3c22:7e10:aa55:1234:5678:9abc")
    post(account, amount_cents=3000, kind="payment", ref="pa")
    post(other, amount_cents=3000, kind="payment", ref="pb")
    set_low_balance(USER, 2500)  # Alice wants to know early; the other keeps $5.00
    with write_transaction():
        states = lock_billing({int(account.id), int(other.id)})
        post_many(
            "usage",
            [
                Posting(int(account.id), -1000, "k1", {"records": 1}, 0),
                Posting(int(other.id), -1000, "k2", {"records": 1}, 0),
            ],
            states,
        )
    [note] = low_notes()
    assert note["balance_cents"] == 2000 and note["threshold_cents"] == 2500
    assert CreditState.get(CreditState.account == account).state == "low"
    assert CreditState.get(CreditState.account == other).state == "ok"


def test_billing_state_defaults_to_the_house_threshold() -> None:
    assert BillingState(1, 0, 0, None).low_balance_cents == DEFAULT_LOW_BALANCE_CENTS


def test_the_rate_counts_usage_of_the_last_7_days_only(account: Account) -> None:
    post(account, amount_cents=5000, kind="payment", ref="p")
    post(account, amount_cents=-1000, kind="plan_purchase", ref="plan")  # not usage
    post(account, amount_cents=-3000, kind="usage", ref="old")
    old = utcnow() - dt.timedelta(days=8)
    LedgerEntry.update(created_at=old).where(LedgerEntry.ref == "old").execute()
    post(account, amount_cents=-700, kind="usage", ref="u1")  # 300: crosses $5.00
    [note] = low_notes()
    assert note["rate_cents_per_day"] == 100 and note["runway_days"] == 3


def test_the_low_balance_email_says_balance_rate_runway_and_links_to_top_up() -> None:
    subject, text = render(
        "low_balance",
        {
            "balance_cents": 600,
            "threshold_cents": 1000,
            "rate_cents_per_day": 214,
            "runway_days": 2,
        },
    )
    assert subject == "Your Hero credit is running low"
    assert "Your balance is $6.00. You asked to be told under $10.00." in text
    assert "$2.14 a day on average, so your credit lasts about 2 days." in text
    assert text.rstrip().endswith("/topup") and "http" in text


def test_the_low_balance_email_without_recent_usage_says_so() -> None:
    _, text = render("low_balance", {"balance_cents": 120})
    assert "$1.20" in text and "no usage in the last 7 days" in text


@given(balance=st.integers(-(10**13), 10**13), spent=st.integers(-(10**13), 10**13))
def test_the_runway_is_whole_days_never_negative(balance: int, spent: int) -> None:
    days = runway_days(balance, spent)
    if balance <= 0 or spent <= 0:
        assert days is None
    else:
        assert days is not None and days >= 0
        # the balance lasts at least *days* and less than *days + 1* days at that rate
        assert days * spent <= balance * 7 < (days + 1) * spent
    assert daily_rate_cents(spent) >= 0
