"""The dashboard's credit banner: the step the account is at, from its credit state, and a
resumption shown for a day."""

from __future__ import annotations

import datetime as dt

from actors.ledger import post
from gateway.credit_banner import credit_banner
from models import Account, Notification, write_transaction
from models.credit import CreditState
from wire.times import utcnow

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
#: The credit grace the banner is given (``HERO_SUSPEND_AFTER_S``), not the default day.
GRACE = 3_600


def charge(account: Account, cents: int, ref: str) -> None:
    with write_transaction():
        post(account, amount_cents=cents, kind="adjustment", ref=ref)


def step(account: Account, now: dt.datetime | None = None) -> str | None:
    banner = credit_banner(account.id, now=now or utcnow(), suspend_after_s=GRACE)
    return banner.step if banner else None


def test_each_state_has_its_banner(sqlite_db: str) -> None:
    account = Account.create(address=ADDRESS)
    assert step(account) is None  # no state yet
    charge(account, 1000, "a")
    assert step(account) is None  # ok
    charge(account, -700, "b")
    assert step(account) == "low"
    charge(account, -400, "c")
    banner = credit_banner(account.id, now=utcnow(), suspend_after_s=GRACE)
    assert banner and banner.step == "exhausted" and banner.balance_cents == -100
    since = CreditState.get(CreditState.account == account).exhausted_since
    assert since is not None
    assert banner.suspend_at == since + dt.timedelta(seconds=GRACE)
    assert step(account, since + dt.timedelta(seconds=GRACE * 0.7)) == "exhausted"
    assert step(account, since + dt.timedelta(seconds=GRACE * 0.8)) == "suspension_coming"
    CreditState.update(state="suspended", suspended_at=utcnow()).execute()
    assert step(account) == "suspended"


def test_a_resumption_is_shown_for_a_day(sqlite_db: str) -> None:
    account = Account.create(address=ADDRESS)
    charge(account, 1000, "a")
    Notification.create(account=account, kind="credit_resumed", key="k", created_at=utcnow())
    assert step(account) == "resumed"
    assert step(account, utcnow() + dt.timedelta(days=1, minutes=1)) is None
