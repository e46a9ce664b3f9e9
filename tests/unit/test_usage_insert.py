"""usage_record rows through COPY and a staging table (PostgreSQL) or multi-row VALUES
(SQLite): the same keys inserted, text kept byte for byte, repeats skipped, a refused value
raised as peewee's error so the batch can be split around it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.usage_insert import COLUMNS, _copy_value, copy_text, insert_new
from models import UsageRecord, db

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)


def row(key: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "key": key,
        "node": "node-a",
        "address": "520:c662:fd00:9e92:5d99:34ed:ab8:82ab",
        "account_id": None,
        "resource_kind": "llm_token",
        "applies_to": "llm",
        "quantity": 1200,
        "amount_cents": 3,
        "occurred_at": NOW,
        "multiplier_quarters": 4,
        "charge_quarters": 12,
        "status": "unmatched",
        "via": "nats",
        "received_at": NOW,
        "seen_nats_at": NOW,
        "seen_git_at": None,
    }
    return base | changes


@pytest.fixture(params=["pg_db", "sqlite_db"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def test_new_keys_are_inserted_and_repeats_skipped(database: str) -> None:
    with db.atomic():
        first = insert_new([row("node-a:1"), row("node-a:2")])
    with db.atomic():
        again = insert_new([row("node-a:2"), row("node-a:3")])
        third = insert_new([row("node-a:3"), row("node-a:4")])  # twice in one transaction

    assert first == {"node-a:1", "node-a:2"}
    assert again == {"node-a:3"} and third == {"node-a:4"}
    assert UsageRecord.select().count() == 4


def test_a_rolled_back_batch_leaves_nothing_behind(database: str) -> None:
    with pytest.raises(RuntimeError), db.atomic():
        insert_new([row("node-a:1")])
        raise RuntimeError("the charge failed")

    with db.atomic():
        assert insert_new([row("node-a:1")]) == {"node-a:1"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        max_size=40,
    )
)
def test_any_text_is_stored_byte_for_byte(pg_db: str, text: str) -> None:
    key = f"k:{abs(hash(text))}:{len(text)}"
    with db.atomic():
        insert_new([row(key, node=text, resource_kind=text[:16])])  # varchar(16)
    stored = UsageRecord.get(UsageRecord.key == key)
    assert (stored.node, stored.resource_kind) == (text, text[:16])


def test_a_refused_value_is_peewees_data_error_on_postgres(pg_db: str) -> None:
    with pytest.raises((peewee.DataError, peewee.IntegrityError)), db.atomic():
        insert_new([row("node-a:1"), row("k" * 500)])  # a key is 200 at most
    with db.atomic():
        assert insert_new([row("node-a:1")]) == {"node-a:1"}


def test_copy_text_escapes_what_copy_would_read_as_syntax() -> None:
    line = copy_text([row("n:1", node="a\tb\\c\nd\re")])
    fields = line.rstrip("\n").split("\t")

    assert len(fields) == len(COLUMNS) and line.count("\n") == 1
    assert fields[1] == "a\\tb\\\\c\\nd\\re" and fields[COLUMNS.index("seen_git_at")] == "\\N"


def test_batches_of_the_same_keys_in_opposite_orders_never_deadlock(pg_db: str) -> None:
    # The same records reach the worker by NATS and by git, in any order, at the same time.
    from tests.support.races import at_once

    def batch(keys: list[str]) -> Callable[[], set[str]]:
        def insert() -> set[str]:
            with db.atomic():
                inserted = insert_new([row(k) for k in keys])
                time.sleep(0.05)  # hold the keys a while, as the charge that follows does
                return inserted

        return insert

    for round_ in range(5):
        keys = [f"node-a:{round_ * 1000 + n}" for n in range(400)]
        first, second = at_once(batch(keys), batch(list(reversed(keys))))
        assert first | second == set(keys) and not first & second


def _copy_text_row_by_row(rows: list[dict[str, Any]]) -> str:
    """The COPY text as first written: every value of every row formatted on its own."""
    return "".join("\t".join(_copy_value(r[c]) for c in COLUMNS) + "\n" for r in rows)


_ODD_TEXT = st.text(alphabet=st.sampled_from("ab\t\n\r\\N é€😀\x01\x7f"), max_size=8) | st.text(
    max_size=8
)
_TIMES = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), timezones=st.one_of(st.none(), st.timezones())
) | st.just(NOW)
#: Values that compare or hash alike yet format apart (``1``, ``1.0``, ``True``,
#: ``Decimal("1.00")``), the same instant in two zones, and every kind a row may hold.
_VALUES = (
    st.none()
    | _ODD_TEXT
    | st.integers(-(10**20), 10**20)
    | st.sampled_from([0, 1, True, False, 1.0, 0.0, Decimal("1.00"), Decimal("0"), 2**64])
    | st.floats(allow_nan=False)
    | _TIMES
)


@given(
    pools=st.lists(
        st.lists(_VALUES, min_size=1, max_size=4), min_size=len(COLUMNS), max_size=len(COLUMNS)
    ),
    picks=st.lists(
        st.lists(st.integers(0, 3), min_size=len(COLUMNS), max_size=len(COLUMNS)), max_size=12
    ),
)
def test_copy_text_by_columns_equals_formatting_every_value_alone(
    pools: list[list[Any]], picks: list[list[int]]
) -> None:
    # each column draws from a small pool, so values repeat and mix kinds as a batch's do
    rows = [{c: pools[i][pick[i] % len(pools[i])] for i, c in enumerate(COLUMNS)} for pick in picks]
    assert copy_text(rows) == _copy_text_row_by_row(rows)


def test_copy_text_keeps_the_same_instant_in_two_zones_and_one_and_true_apart() -> None:
    plus2 = NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))
    rows = [
        row("n:1", quantity=1, received_at=NOW, node="x"),
        row("n:2", quantity=True, received_at=plus2, node="x"),
        row("n:3", quantity=1.0, received_at=NOW.replace(tzinfo=None), node="x\ty"),
    ]
    assert copy_text(rows) == _copy_text_row_by_row(rows)
    assert [
        line.split("\t")[COLUMNS.index("quantity")] for line in copy_text(rows).split("\n")[:3]
    ] == ["1", "True", "1.0"]
