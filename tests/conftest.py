"""Shared fixtures: folder-based markers, and one database / vhost per test run."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.deps import DepsSwitch, isolated_deps
from tests.support.services import (
    IN_CI,
    amqp_reachable,
    create_pg_database,
    drop_pg_database,
    pg_reachable,
)

# Fixtures shared across test folders live in tests/support modules registered here;
# test modules never import one another.
pytest_plugins = ["tests.support.credit_stack"]

# Speed is measured by `make bench`, never asserted: a property test on a loaded two-core
# machine (or in CI beside the integration tier's processes) may take any time per example.
settings.register_profile(
    "hero", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("hero")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def need(service: str, up: bool) -> None:
    """Skip when *service* is down, except in CI, where a missing service is a failure."""
    if up:
        return
    if IN_CI:
        pytest.fail(f"{service} is not reachable and CI=true: start it (see .ci/run)")
    pytest.skip(f"{service} is not reachable")


@pytest.fixture(autouse=True)
def deps(tmp_path: Path) -> Iterator[DepsSwitch]:
    """This process's dependencies and in-process broker, restored after the test."""
    with isolated_deps(tmp_path) as switch:
        yield switch


@pytest.fixture
def sqlite_db(tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A migrated SQLite database file bound to the models; yields its URL."""
    import models

    url = f"sqlite:///{tmp_path}/hero.db"
    database = models.init_database(url)
    models.migrate()
    yield url
    database.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    need("PostgreSQL", pg_reachable())
    name = f"hero_test_{uuid.uuid4().hex[:10]}"
    url = create_pg_database(name)
    yield url
    drop_pg_database(name)


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[str]:
    """The run's PostgreSQL database, migrated and emptied, bound to the models."""
    import models

    database = models.init_database(postgres_url)
    models.migrate()
    tables = ", ".join(m._meta.table_name for m in models.ALL_MODELS)
    models.db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    yield postgres_url
    database.close_all() if hasattr(database, "close_all") else database.close()


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """A RabbitMQ vhost of this test alone (no message leaks into the next), deleted after."""
    need("RabbitMQ", amqp_reachable())
    vhost = f"hero_test_{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True)
