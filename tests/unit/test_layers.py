"""The end user's tools stay small: ``hero-node`` and ``hero-login`` load no server module.

Each import runs in a fresh interpreter, so what an earlier test loaded cannot hide (or
fake) what the entry point itself pulls in.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Packages only the server needs: the database stack, the web framework, the broker.
SERVER_PACKAGES = ("peewee", "psycopg2", "falcon", "playhouse", "dramatiq", "models")


def _loaded_after(statement: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(out.stdout.split())


def _server_modules(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m.split(".")[0] in SERVER_PACKAGES)


@pytest.mark.parametrize("entry", ["node_agent.cli", "cli.login"])
def test_an_end_user_tool_loads_no_server_module(entry: str) -> None:
    loaded = _loaded_after(f"import {entry}")

    assert entry in loaded
    assert _server_modules(loaded) == []


def test_hero_login_loads_nothing_of_the_gateway_the_adapters_or_the_settings() -> None:
    loaded = _loaded_after("import cli.login")

    project = {m.split(".")[0] for m in loaded} & {
        "gateway",
        "adapters",
        "actors",
        "settings",
        "node_agent",
    }
    assert project == set()
    assert "wire.keys" in loaded


def test_the_check_sees_a_server_module_when_one_is_loaded() -> None:
    loaded = _loaded_after("import node_agent.cli, models.db")

    assert {"peewee", "models.db"} <= set(_server_modules(loaded))
