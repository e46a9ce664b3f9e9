"""The payment stack as real processes: gateways and workers on PostgreSQL and RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, run_stack


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each stack test runs on PostgreSQL and again on SQLite (WAL, shared by processes)."""
    fixture = "pg_db" if request.param == "postgresql" else "sqlite_db"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def stack(database_url: str, amqp_url: str, tmp_path: Path) -> Iterator[Stack]:
    yield from run_stack(database_url, amqp_url, tmp_path)


@pytest.fixture
def pg_stack(pg_db: str, amqp_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack on PostgreSQL only, for tests that use its row locks."""
    yield from run_stack(pg_db, amqp_url, tmp_path)
