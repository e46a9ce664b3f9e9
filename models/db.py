"""Database set-up: one peewee proxy, bound at start-up to SQLite or PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import peewee
from playhouse.pool import PooledPostgresqlDatabase

#: The database every model is bound to; ``init_database`` points it at a real one.
db = peewee.DatabaseProxy()

#: SQLite pragmas: WAL for concurrent readers, FULL sync because this is money.
SQLITE_PRAGMAS: dict[str, Any] = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 30_000,
    "cache_size": -64_000,
}


class BaseModel(peewee.Model):
    id = peewee.AutoField()

    class Meta:
        database = db
        legacy_table_names = False


def make_database(url: str) -> peewee.Database:
    """Build (not connect) the database named by *url*.

    Args:
        url: ``sqlite:///relative/or/absolute.db`` or ``postgresql://user@host:port/name``.

    Raises:
        ValueError: the URL names neither.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return peewee.SqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            timeout=30,
            returning_clause=True,
            check_same_thread=False,
        )
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        return PooledPostgresqlDatabase(  # type: ignore[no-any-return]
            unquote(parts.path.lstrip("/")),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            max_connections=32,
            stale_timeout=300,
            timeout=30,
            autoconnect=True,
            options="-c statement_timeout=60000 -c lock_timeout=30000",
        )
    raise ValueError(f"unsupported database URL {url!r}")


def init_database(url: str) -> peewee.Database:
    """Bind every model to the database at *url* and return it."""
    database = make_database(url)
    db.initialize(database)
    return database


def is_sqlite() -> bool:
    return isinstance(db.obj, peewee.SqliteDatabase)


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that takes the write lock up front.

    SQLite gets ``BEGIN IMMEDIATE`` so two writers never deadlock upgrading a read lock;
    PostgreSQL gets a plain transaction (row locks come from the statements).
    """
    if is_sqlite():
        with db.atomic("IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield


def ping() -> None:
    """Run a trivial query; raise when the database cannot answer."""
    db.execute_sql("SELECT 1")
