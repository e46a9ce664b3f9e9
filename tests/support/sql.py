"""Counting the SQL a piece of code runs, through the database handle every model uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from models import db


@contextmanager
def statements(table: str | None = None) -> Iterator[list[str]]:
    """The SQL statements run meanwhile (only those naming *table*, when given)."""
    seen: list[str] = []
    original = db.obj.execute_sql

    def spy(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        if table is None or table in sql:
            seen.append(sql)
        return original(sql, params, *args, **kwargs)

    db.obj.execute_sql = spy
    try:
        yield seen
    finally:
        del db.obj.execute_sql
