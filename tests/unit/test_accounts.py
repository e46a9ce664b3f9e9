"""``ensure_account``: a first login's account and billing row, created once."""

from __future__ import annotations

import pytest

from actors.accounts import ensure_account
from models import Account, Billing
from models.errors import InvalidAddress

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def test_it_creates_the_account(sqlite_db: str) -> None:
    assert ensure_account(ADDRESS) == "created"
    assert Account.get(Account.address == ADDRESS)


def test_it_creates_the_billing_row_at_zero(sqlite_db: str) -> None:
    ensure_account(ADDRESS)
    assert Billing.get().balance_cents == 0


def test_a_second_delivery_changes_nothing(sqlite_db: str) -> None:
    ensure_account(ADDRESS)
    assert ensure_account(ADDRESS) == "exists"
    assert (Account.select().count(), Billing.select().count()) == (1, 1)


def test_the_address_is_stored_canonical(sqlite_db: str) -> None:
    ensure_account("0520:C662:fd00:9e92:5d99:34ed:0ab8:82ab")
    assert Account.get().address == ADDRESS


def test_an_account_made_without_billing_gets_its_billing_row(sqlite_db: str) -> None:
    Account.create(address=ADDRESS)
    assert ensure_account(ADDRESS) == "exists"
    assert Billing.select().count() == 1


def test_a_bad_address_is_refused(sqlite_db: str) -> None:
    with pytest.raises(InvalidAddress):
        ensure_account("2001:db8::1")
