"""The dashboard's credit banner: the step the account is at, from its credit state, and a
resumption shown for a day."""

from __future__ import annotations

import datetime as dt

from actors import credit
from actors.ledger import post
from gateway.credit_banner import credit_banner
from models import Account, Notification, utcnow, write_transaction
from models.credit import CreditState

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def charge(account: Account, cents: int, ref: str) -> None:
    with write_transaction():
        post(account, amount_cents=cents, kind="adjustment", ref=ref)


def step(account: Account, now: dt.datetime | None = None) -> str | None:
    banner = credit_banner(account.id, now=now or utcnow())
    return banner.step if banner else None


def test_each_state_has_its_banner(sqlite_db: str) -> None:
    account = Account.create(address=ADDRESS)
    assert step(account) is None  # no state yet
    charge(account, 1000, "a")
    assert step(account) is None  # ok
    charge(account, -700, "b")
    assert step(account) == "low"
    charge(account, -400, "c")
    banner = credit_banner(account.id, now=utcnow())
    assert banner and banner.step == "exhausted" and banner.balance_cents == -100
    grace = credit.policy().suspend_after_s
    assert banner.suspend_at is not None
    later = utcnow() + dt.timedelta(seconds=grace * 0.8)
    assert step(account, later) == "suspension_coming"
    CreditState.update(state="suspended", suspended_at=utcnow()).execute()
    assert step(account) == "suspended"


def test_a_resumption_is_shown_for_a_day(sqlite_db: str) -> None:
    account = Account.create(address=ADDRESS)
    charge(account, 1000, "a")
    Notification.create(account=account, kind="credit_resumed", key="k", created_at=utcnow())
    assert step(account) == "resumed"
    assert step(account, utcnow() + dt.timedelta(days=1, minutes=1)) is None
