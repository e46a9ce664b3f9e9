"""Timestamp columns (``models.fields.UtcDateTimeField``): Python sees aware UTC, the
database holds naive UTC, on SQLite and PostgreSQL alike (``wire.times``)."""

from __future__ import annotations

import datetime as dt

import peewee
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.ledger import lock_billing, post
from actors.suspension import crossing_of
from gateway.console import queries
from models import Account, Billing, LedgerEntry, Node, db, is_sqlite
from models.credit import CreditState
from models.dialect import param
from models.fields import UtcDateTimeField, stored
from models.migrations import ALL_MODELS

PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
MOMENT = dt.datetime(2026, 11, 21, 14, 3, 10, 250000, tzinfo=dt.UTC)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
NAIVE = st.datetimes(min_value=dt.datetime(1971, 1, 2), max_value=dt.datetime(9998, 1, 1))


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_db" if request.param == "postgresql" else "sqlite_db"))


def _raw_created_at(account: Account) -> object:
    """The column as the driver hands it back, without the field's conversion."""
    row = db.execute_sql(f"SELECT created_at FROM account WHERE id = {param()}", [account.id])
    return row.fetchone()[0]


def test_every_timestamp_column_of_every_model_is_utc() -> None:
    plain = [
        f"{model.__name__}.{field.name}"
        for model in ALL_MODELS
        for field in model._meta.sorted_fields
        if isinstance(field, peewee.DateTimeField) and not isinstance(field, UtcDateTimeField)
    ]
    assert plain == []


def test_an_aware_time_goes_in_naive_utc_and_comes_out_aware_utc(database: str) -> None:
    with db.atomic():
        if not is_sqlite():  # what PostgreSQL would convert an aware value to is not used
            db.execute_sql("SET LOCAL TIME ZONE 'Asia/Kolkata'")
        account = Account.create(address="400::1", created_at=MOMENT.astimezone(PLUS_TWO))

    raw = _raw_created_at(account)
    assert str(raw) == "2026-11-21 14:03:10.250000"  # naive UTC, the column's type unchanged
    back = Account.get_by_id(account.id).created_at
    assert back == MOMENT and back.tzinfo is dt.UTC


def test_a_naive_time_is_taken_as_utc(database: str) -> None:
    account = Account.create(address="400::1", created_at=MOMENT.replace(tzinfo=None))

    assert Account.get_by_id(account.id).created_at == MOMENT


def test_a_comparison_with_an_aware_value_matches_the_same_instant(database: str) -> None:
    Account.create(address="400::1", created_at=MOMENT)
    same = MOMENT.astimezone(PLUS_TWO)

    assert Account.select().where(Account.created_at == same).count() == 1
    assert Account.select().where(Account.created_at < same + dt.timedelta(seconds=1)).count() == 1
    assert Account.select().where(Account.created_at > same - dt.timedelta(seconds=1)).count() == 1
    assert Account.select().where(Account.created_at.between(same, same)).count() == 1
    assert Account.select().where(Account.created_at > same).count() == 0


def test_the_first_payment_stamp_is_stored_utc_through_coalesce(database: str) -> None:
    account = Account.create(address="400::1")
    with db.atomic():
        lock_billing({account.id})
        post(
            account.id,
            amount_cents=500,
            kind="payment",
            ref="p1",
            paid_cents=500,
            paid_at=MOMENT.astimezone(PLUS_TWO),
        )
    billing = Billing.get(Billing.account == account.id)
    assert billing.first_paid_at == MOMENT
    raw = db.execute_sql(f"SELECT first_paid_at FROM billing WHERE id = {param()}", [billing.id])
    assert str(raw.fetchone()[0]) == "2026-11-21 14:03:10.250000"
    with db.atomic():  # the raw read of the locked row gives the same aware time
        assert lock_billing({account.id})[account.id].first_paid_at == MOMENT
    entry = LedgerEntry.get(LedgerEntry.ref == "p1")
    assert entry.created_at.tzinfo is dt.UTC


@given(NAIVE, OFFSETS)
def test_the_field_converts_any_offset_to_utc_and_back(
    naive: dt.datetime, zone: dt.timezone
) -> None:
    field = UtcDateTimeField()
    aware = naive.replace(tzinfo=zone)
    held = field.db_value(aware)

    assert held.tzinfo is None and held == stored(aware)
    assert field.python_value(held) == aware
    assert field.python_value(str(held)) == aware  # SQLite's text form
    assert field.python_value(aware.isoformat(sep=" ")) == aware  # text written with an offset


def test_sqlite_text_forms_read_as_utc() -> None:
    field = UtcDateTimeField()
    assert field.python_value("2026-11-21 14:03:10") == MOMENT.replace(microsecond=0)
    assert field.python_value("2026-11-21T14:03:10.25Z") == MOMENT
    assert field.python_value("2026-11-21") == dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    assert field.python_value(None) is None
    assert field.db_value(None) is None


def test_the_console_counts_a_node_lag_from_its_stored_cursor_time(sqlite_db: str) -> None:
    Node.create(name="n1", repo_url="https://forge.example/n1", pubkey_hex="ab" * 32)
    Node.update(cursor_commit="c" * 40, cursor_updated_at=MOMENT).execute()

    (row,) = queries.nodes(now=MOMENT + dt.timedelta(seconds=90))

    assert row["cursor_updated_at"] == "2026-11-21T14:03:10Z"  # to the second, with a Z
    assert row["lag_s"] == 90


def test_a_credit_stay_keeps_the_notice_key_written_before_times_were_aware(
    sqlite_db: str,
) -> None:
    account = Account.create(address="400::1")
    CreditState.create(account=account, state="exhausted", balance_cents=0, exhausted_since=MOMENT)

    row = CreditState.get(CreditState.account == account)

    assert crossing_of(row) == "2026-11-21T14:03:10.250000"  # as the naive clock wrote it
