"""The billing rows of a usage batch's accounts read and locked by address in one
statement (in account id order), on SQLite and PostgreSQL: unknown addresses left out, an
account without a billing row given one, and the rows really locked on PostgreSQL."""

from __future__ import annotations

import psycopg2
import pytest

from actors.ledger import lock_billing_of
from bench.scratch import mycelium_addresses
from models import Account, Billing, write_transaction
from tests.support.sql import statements

UNKNOWN = "400::dead"


@pytest.fixture(params=["sqlite_db", "pg_db"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def accounts(count: int, *, billing: bool = True, seed: int = 40) -> list[Account]:
    made = [Account.create(address=a) for a in mycelium_addresses(count, seed=seed)]
    for i, account in enumerate(made):
        if billing:
            Billing.create(account=account, balance_cents=100 + i, usage_carry=i % 4)
    return made


@pytest.mark.parametrize("count", [1, 60])
def test_known_accounts_are_read_in_one_statement(database: str, count: int) -> None:
    made = accounts(count)
    with write_transaction(), statements() as seen:
        states = lock_billing_of({str(a.address) for a in made})
    assert len(seen) == 1, seen
    assert {a: (s.account_id, s.balance_cents, s.usage_carry) for a, s in states.items()} == {
        str(a.address): (int(a.id), 100 + i, i % 4) for i, a in enumerate(made)
    }


def test_an_unknown_address_is_left_out_and_a_missing_billing_row_made(database: str) -> None:
    (known,) = accounts(1)
    (bare,) = accounts(1, billing=False, seed=41)
    with write_transaction():
        states = lock_billing_of({str(known.address), str(bare.address), UNKNOWN})
    assert set(states) == {str(known.address), str(bare.address)}
    assert (states[str(bare.address)].balance_cents, states[str(bare.address)].usage_carry) == (
        0,
        0,
    )
    assert Billing.select().where(Billing.account == bare.id).count() == 1


def test_the_billing_rows_stay_locked_until_the_transaction_ends(pg_db: str) -> None:
    made = accounts(2)
    other = psycopg2.connect(pg_db)
    try:
        with write_transaction():
            lock_billing_of({str(made[1].address)})
            with other.cursor() as cur:
                cur.execute(
                    "SELECT 1 FROM billing WHERE account_id = %s FOR UPDATE NOWAIT", [made[0].id]
                )
                with pytest.raises(psycopg2.errors.LockNotAvailable):
                    cur.execute(
                        "SELECT 1 FROM billing WHERE account_id = %s FOR UPDATE NOWAIT",
                        [made[1].id],
                    )
            other.rollback()
        with other.cursor() as cur:  # released at commit
            cur.execute(
                "SELECT 1 FROM billing WHERE account_id = %s FOR UPDATE NOWAIT", [made[1].id]
            )
        # the account row itself is not locked: only billing rows are (as lock_billing does)
        with write_transaction():
            lock_billing_of({str(made[0].address)})
            with other.cursor() as cur:
                cur.execute("SELECT 1 FROM account WHERE id = %s FOR UPDATE NOWAIT", [made[0].id])
            other.rollback()
    finally:
        other.close()
