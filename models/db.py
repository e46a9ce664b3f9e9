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


#: Seconds a PostgreSQL connection attempt may take before it counts as down.
CONNECT_TIMEOUT_S = 10


class BaseModel(peewee.Model):
    id = peewee.AutoField()

    class Meta:
        database = db
        legacy_table_names = False


class DatabaseUnavailable(Exception):
    """The database cannot be used: not there, not migrated, or not answering."""


def make_database(url: str, *, create: bool = True) -> peewee.Database:
    """Build (not connect) the database named by *url*.

    Args:
        url: ``sqlite:///relative/or/absolute.db`` or ``postgresql://user@host:port/name``.
        create: make a missing SQLite file (and its folder); False refuses instead.

    Raises:
        ValueError: the URL names neither.
        DatabaseUnavailable: *create* is False and the SQLite file or its folder is missing.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:" and not create:
            _check_sqlite_file(path)
        elif path != ":memory:":
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
            connect_timeout=CONNECT_TIMEOUT_S,
            options="-c statement_timeout=60000 -c lock_timeout=30000",
        )
    raise ValueError(f"unsupported database URL {url!r}")


def _check_sqlite_file(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DatabaseUnavailable(
            f"the folder of the SQLite database does not exist: {folder} "
            "(check HERO_DATABASE_URL, or run hero-onboarding migrate to create it)"
        )
    if not os.path.isfile(path):
        raise DatabaseUnavailable(
            f"database not migrated: {path} does not exist; run hero-onboarding migrate"
        )


def init_database(url: str, *, create: bool = True) -> peewee.Database:
    """Bind every model to the database at *url* and return it (see :func:`make_database`)."""
    database = make_database(url, create=create)
    db.initialize(database)
    return database


def describe_failure(exc: BaseException, url: str) -> str:
    """What an operator is told when the database at *url* failed with *exc*: one line,
    naming where it is and what to do, never the password."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"the SQLite database {url[len('sqlite:///') :]} cannot be used: {exc}"
    where = f"PostgreSQL at {parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = unquote(parts.path.lstrip("/"))
    if "does not exist" in text and "database" in text:
        return f"{where} has no database {name!r}: create it, or fix HERO_DATABASE_URL"
    if "password authentication" in text or "authentication failed" in text:
        return f"{where} refused the user or password of HERO_DATABASE_URL"
    return f"{where} does not answer ({text}): is it running, and is HERO_DATABASE_URL right?"


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


def check_database(url: str) -> None:
    """Make sure the bound database answers and has a schema.

    Raises:
        DatabaseUnavailable: saying what is wrong and what to do.
    """
    from models.migrations import current_version

    try:
        version = current_version()
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        raise DatabaseUnavailable(describe_failure(exc, url)) from None
    finally:
        if not db.is_closed():
            db.close()
    if version is None:
        raise DatabaseUnavailable("database not migrated: run hero-onboarding migrate")
