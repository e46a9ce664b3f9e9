"""The node agent stays small: ``hero-node`` loads neither the server's database stack nor
its tables, and ``models`` still hands out the same objects, loaded on first use."""

from __future__ import annotations

import subprocess
import sys

#: Modules only the server needs; each costs the node agent megabytes of RSS.
SERVER_ONLY = (
    "peewee",
    "psycopg2",
    "models.db",
    "models.accounts",
    "models.migrations",
    "models.usage",
    "dramatiq",
    "pika",
)


def _loaded_after(statement: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(out.stdout.split())


def test_the_node_agent_loads_no_server_module() -> None:
    loaded = _loaded_after("import node_agent.cli, node_agent.service, node_agent.publisher")

    assert "node_agent.service" in loaded
    assert sorted(m for m in SERVER_ONLY if m in loaded) == []


def test_models_names_resolve_lazily_to_the_same_objects() -> None:
    import models
    from models.db import db as proxy
    from models.usage import UsageRecord

    assert models.db is proxy  # the database proxy, not the submodule of that name
    assert models.UsageRecord is UsageRecord
    assert set(models.__all__) == set(models._HOME_OF)  # noqa: SLF001


def test_an_unknown_name_is_an_attribute_error() -> None:
    import models

    try:
        models.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("models.NoSuchThing resolved")


def test_the_hero_node_process_keeps_structlog_from_loading_rich() -> None:
    loaded = _loaded_after(
        "import sys\nsys.argv = ['/usr/bin/hero-node', 'serve']\n"
        "import node_agent.cli, node_agent.service\n"
        "sys.modules = {k: v for k, v in sys.modules.items() if v}"
    )

    assert "structlog" in loaded and "rich" not in loaded and "rich.traceback" not in loaded


def test_other_processes_importing_the_package_keep_rich() -> None:
    loaded = _loaded_after("import structlog\nimport wire.rules")

    assert "rich" in loaded
