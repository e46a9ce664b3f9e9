"""One way a balance change ends, whether posted alone (``post``) or in a batch
(``post_many``): the same overdrawn flag, the same credit state, and a low-balance
notification per entry that crossed the threshold, keyed by that entry."""

from __future__ import annotations

import pytest

from actors.ledger import Posting, lock_billing, post, post_many
from models import Account, Billing, LedgerEntry, Notification, write_transaction
from models.credit import CreditState

LOW_CENTS = 500


@pytest.fixture(params=["sqlite_db", "pg_db"])
def accounts(request: pytest.FixtureRequest) -> tuple[Account, Account]:
    request.getfixturevalue(request.param)
    pair = (
        Account.create(address="520:c662:fd00:9e92:5d99:34ed:ab8:82ab"),
        Account.create(address="520:c662:fd00:9e92:5d99:34ed:ab8:82ac"),
    )
    with write_transaction():
        for account in pair:
            post(account, amount_cents=600, kind="payment", ref=f"pay-{account.id}")
    Billing.update(low_balance_cents=LOW_CENTS).execute()
    return pair


def _batch(account: Account, *amounts: int) -> None:
    with write_transaction():
        states = lock_billing({int(account.id)})
        postings = [
            Posting(int(account.id), cents, f"u{account.id}-{i}", {}, 0)
            for i, cents in enumerate(amounts)
        ]
        post_many("usage", postings, states)


def _low_keys(account: Account) -> list[str]:
    rows = Notification.select().where(
        (Notification.account == account) & (Notification.kind == "low_balance")
    )
    return sorted(str(n.key) for n in rows)


def _entry_keys(account: Account, kind: str) -> list[str]:
    rows = LedgerEntry.select().where((LedgerEntry.account == account) & (LedgerEntry.kind == kind))
    return sorted(f"{account.id}:{e.id}" for e in rows)


def test_a_debit_alone_or_in_a_batch_ends_the_same_way(accounts: tuple[Account, Account]) -> None:
    alone, batched = accounts
    with write_transaction():
        post(alone, amount_cents=-700, kind="usage", ref="u-alone")
    _batch(batched, -700)
    for account in accounts:
        billing = Billing.get(Billing.account == account)
        state = CreditState.get(CreditState.account == account)
        assert (billing.balance_cents, billing.overdrawn) == (-100, True)
        assert int(state.balance_cents) == -100
        assert _low_keys(account) == _entry_keys(account, "usage")


def test_each_crossing_in_one_batch_is_told_keyed_by_its_entry(
    accounts: tuple[Account, Account],
) -> None:
    # Given a batch taking the balance under the threshold, back over it, and under again
    _, account = accounts
    _batch(account, -200, 300, -300)
    # Then both crossings are told, each under the entry that made it
    entries = LedgerEntry.select().where(LedgerEntry.kind == "usage").order_by(LedgerEntry.id)
    crossing = [e for e in entries if int(e.amount_cents) < 0]
    assert _low_keys(account) == sorted(f"{account.id}:{e.id}" for e in crossing)
    assert Billing.get(Billing.account == account).overdrawn is False


def test_a_credit_that_ends_an_overdraft_clears_the_flag_alone_or_in_a_batch(
    accounts: tuple[Account, Account],
) -> None:
    alone, batched = accounts
    with write_transaction():
        post(alone, amount_cents=-700, kind="usage", ref="u-alone")
        post(alone, amount_cents=100, kind="adjustment", ref="a-alone")
    _batch(batched, -700, 100)
    for account in accounts:
        assert Billing.get(Billing.account == account).overdrawn is False
