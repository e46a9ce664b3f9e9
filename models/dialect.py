"""What differs between PostgreSQL and SQLite, in one place: raw SQL and locking ask here.

Both speak ``ON CONFLICT ... DO NOTHING`` and ``RETURNING`` (SQLite from 3.35), so those
need no helper; placeholders and row locks differ.
"""

from __future__ import annotations

from typing import TypeVar

import peewee

from models.db import db, is_sqlite

__all__ = ["is_postgres", "is_sqlite", "lock_clause", "locked", "param", "placeholders"]

Q = TypeVar("Q", bound=peewee.Select)


def is_postgres(database: peewee.Database | None = None) -> bool:
    """Whether *database* (by default the one the models are bound to) is PostgreSQL."""
    target = db.obj if database is None else database
    return isinstance(target, peewee.PostgresqlDatabase)


def param() -> str:
    """The placeholder of one parameter in raw SQL (``%s`` or ``?``)."""
    return str(db.obj.param)


def placeholders(count: int) -> str:
    """*count* placeholders, comma-separated, for an ``IN (...)`` or a ``VALUES`` row."""
    return ", ".join([param()] * count)


def lock_clause() -> str:
    """`` FOR UPDATE`` where rows can be locked (PostgreSQL); nothing on SQLite, whose
    write transaction already holds the only lock."""
    return " FOR UPDATE" if db.obj.for_update else ""


def locked(query: Q) -> Q:
    """*query* locking the rows it reads, where rows can be locked (see ``lock_clause``)."""
    return query.for_update() if db.obj.for_update else query
