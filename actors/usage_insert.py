"""Usage rows into ``usage_record``, skipping keys already there: the keys inserted.

On PostgreSQL the rows are streamed with ``COPY`` into a temporary staging table (one per
connection, emptied at every commit and before every use), then moved by one ``INSERT ...
SELECT ... ON CONFLICT (key) DO NOTHING RETURNING key``: one round trip of data and one
statement, instead of thousands of bound parameters. On SQLite, multi-row ``INSERT ...
VALUES`` with the same ``ON CONFLICT``. Both run inside the caller's transaction, so the
rows and the charges they cause commit together or not at all. A value the database
refuses raises peewee's ``DataError``/``IntegrityError`` on either path (the caller
isolates it).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import peewee
from peewee import chunked

from models import db, is_sqlite
from models.fields import stored

#: Rows per INSERT statement on the VALUES path.
INSERT_CHUNK = 500
#: Columns of usage_record written by a batch, in order.
COLUMNS = (
    "key",
    "node",
    "address",
    "account_id",
    "resource_kind",
    "applies_to",
    "quantity",
    "amount_cents",
    "occurred_at",
    "multiplier_quarters",
    "charge_quarters",
    "status",
    "via",
    "received_at",
    "seen_nats_at",
    "seen_git_at",
)
#: The staging table (temporary: each connection has its own, emptied at commit).
STAGE = "usage_record_stage"
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS AS "  # noqa: S608
    f"SELECT {', '.join(COLUMNS)} FROM usage_record WITH NO DATA"
)
_MOVE = (
    f"INSERT INTO usage_record ({', '.join(COLUMNS)}) "  # noqa: S608
    f"SELECT {', '.join(COLUMNS)} FROM {STAGE} ORDER BY key "
    "ON CONFLICT (key) DO NOTHING RETURNING key"
)
#: COPY text format: these characters are escaped; NULL is ``\N``.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def insert_new(rows: list[dict[str, Any]]) -> set[str]:
    """Insert *rows*, skipping keys already there; return the keys this call inserted.

    Rows go in in key order: two batches holding the same keys (one record reaches the
    workers by NATS and by git) then wait for each other in one order and never deadlock.
    """
    if not rows:
        return set()
    rows = sorted(rows, key=lambda r: str(r["key"]))
    return _insert_values(rows) if is_sqlite() else _insert_copy(rows)


def copy_text(rows: list[dict[str, Any]]) -> str:
    """*rows* in ``COPY ... FROM STDIN`` text format, ``COLUMNS`` in order.

    Formatted a column at a time: each distinct value of a column is formatted once (a
    batch's times of receipt, its accounts and nodes repeat), then every row is one join.

    >>> copy_text([{c: None for c in COLUMNS} | {"key": "n:1", "node": "a\\tb"}])[:11]
    'n:1\\ta\\\\tb\\t\\\\N'
    """
    if not rows:
        return ""
    columns = [_copy_column([row[c] for row in rows]) for c in COLUMNS]
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


#: Column types whose equal values always format alike (unlike ``1 == 1.0 == True``).
_CACHED_TYPES = ({str, type(None)}, {int, type(None)}, {dt.datetime, type(None)})


def _copy_column(values: list[Any]) -> list[str]:
    """*values* (one column) each as ``_copy_value`` formats it."""
    types = set(map(type, values))
    if any(types <= kinds for kinds in _CACHED_TYPES):
        text = {value: _copy_value(value) for value in set(values)}
        return list(map(text.__getitem__, values))
    return list(map(_copy_value, values))


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return stored(value).isoformat(sep=" ")
    return str(value).translate(_ESCAPES)


def _insert_copy(rows: list[dict[str, Any]]) -> set[str]:
    data = io.StringIO(copy_text(rows))
    wrapper: Any = getattr(peewee, "__exception_wrapper__")  # noqa: B009 - untyped
    with wrapper:  # psycopg2's errors as peewee's, as execute_sql raises them
        cursor = db.cursor()
        # one round trip: emptied first, for a second call in the same transaction
        cursor.execute(f"{_CREATE_STAGE}; TRUNCATE {STAGE}")
        cursor.copy_expert(f"COPY {STAGE} ({', '.join(COLUMNS)}) FROM STDIN", data)
        cursor.execute(_MOVE)
        inserted = {r[0] for r in cursor.fetchall()}
    return inserted


def _insert_values(rows: list[dict[str, Any]]) -> set[str]:
    p = db.obj.param
    inserted: set[str] = set()
    placeholders = f"({', '.join([p] * len(COLUMNS))})"
    for chunk in chunked(rows, INSERT_CHUNK):
        values = [_sql_value(row[c]) for row in chunk for c in COLUMNS]
        cursor = db.execute_sql(
            f"INSERT INTO usage_record ({', '.join(COLUMNS)}) "  # noqa: S608
            f"VALUES {', '.join([placeholders] * len(chunk))} "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            values,
        )
        inserted.update(r[0] for r in cursor.fetchall())
    return inserted


def _sql_value(value: Any) -> Any:
    return str(stored(value)) if isinstance(value, dt.datetime) else value
