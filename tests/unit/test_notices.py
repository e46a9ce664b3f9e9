"""Every notification is written by one function: once per (kind, key), in one statement."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from models import Account, Notification
from models.ops import Notice, notify

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite_db", "pg_db"])
def account(request: pytest.FixtureRequest) -> Account:
    request.getfixturevalue(request.param)
    created: Account = Account.create(address="520:c662:fd00:9e92:5d99:34ed:ab8:82ab")
    return created


def test_a_notice_asked_twice_is_written_once(account: Account) -> None:
    notice = Notice(int(account.id), "tier_reached", f"{account.id}:silver", {"tier": "silver"})
    assert notify(notice, now=NOW) == 1
    assert notify(notice, now=NOW) == 0
    assert Notification.select().count() == 1


def test_a_batch_writes_only_the_notices_not_written_yet(account: Account) -> None:
    first = Notice(int(account.id), "low_balance", "1:1", {"b": 1, "a": 2})
    second = Notice(int(account.id), "low_balance", "1:2", {})
    notify(first, now=NOW)
    assert notify(first, second, now=NOW) == 1
    assert notify(now=NOW) == 0
    row = Notification.get(Notification.key == "1:1")
    assert (row.payload, row.created_at) == (json.dumps({"a": 2, "b": 1}), NOW)
