"""What ``hero-onboarding check-config`` checks: the values, then the services they name."""

from __future__ import annotations

from cli.failures import PROBE_TIMEOUT_S, probe_broker
from models.db import DatabaseUnavailable, check_database, describe_failure, init_database
from models.dialect import is_postgres
from settings import Settings
from wire.keys import KeyFileError, read_key_file


def config_problems(settings: Settings) -> list[str]:
    """Every problem of the values themselves, one line each (connects to nothing)."""
    problems = settings.production_problems()
    if settings.mycelium_key:
        try:
            read_key_file(settings.mycelium_key)
        except KeyFileError as exc:
            problems.append(f"HERO_MYCELIUM_KEY: {exc}")
    return problems


def service_problems(settings: Settings, *, timeout_s: float = PROBE_TIMEOUT_S) -> list[str]:
    """Whether the database and the broker answer (each within *timeout_s*), one line each
    for the ones that do not, naming which is down."""
    problems = []
    database = _database_problem(settings.database_url, timeout_s=timeout_s)
    if database is not None:
        problems.append(f"HERO_DATABASE_URL: {database}")
    if settings.amqp_url:
        broker = probe_broker(settings.amqp_url, timeout_s=timeout_s)
        if broker is not None:
            problems.append(f"HERO_AMQP_URL: {broker}")
    return problems


def _database_problem(url: str, *, timeout_s: float) -> str | None:
    try:
        database = init_database(url, create=False)
    except DatabaseUnavailable as exc:
        return str(exc)
    if is_postgres(database):
        database.connect_params["connect_timeout"] = max(1, round(timeout_s))
    try:
        check_database(url)
    except DatabaseUnavailable as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any driver failure is "does not answer"
        return describe_failure(exc, url)
    finally:
        database.close()
    return None
