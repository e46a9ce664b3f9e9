"""`scripts/services.sh`, which `make test` runs first on a fresh machine: it must see that
Chromium is missing and install it (or say so), whatever its own functions are called."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "services.sh"
#: What the script runs besides the commands each test puts in place.
TOOLS = ("bash", "id", "seq", "sleep", "ls", "sort", "tail", "mkdir", "cat")


def run(
    tmp_path: Path, *, present: tuple[str, ...]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The script with a PATH of only the basic tools, a recording ``apt-get`` that fails,
    and a stub for each name in *present*."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    calls = tmp_path / "apt-calls"
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    apt.chmod(0o755)
    for name in present:
        stub = bin_dir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    env = {"PATH": str(bin_dir), "CI": "true", "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    return done, calls


@pytest.fixture(autouse=True)
def _services_up() -> None:
    from tests.support.services import amqp_reachable, nats_reachable, pg_reachable

    if not (pg_reachable() and amqp_reachable() and nats_reachable()):
        pytest.fail("PostgreSQL, RabbitMQ and NATS must be up: this test checks the rest")


def test_a_missing_chromium_is_installed_or_named(tmp_path: Path) -> None:
    done, calls = run(tmp_path, present=("git",))
    assert done.returncode == 1, done.stderr
    assert "install" in calls.read_text() and "chromium" in calls.read_text()
    assert "Chromium for the browser tests: apt-get install chromium" in done.stderr


def test_chromium_on_the_path_is_taken_as_it_is(tmp_path: Path) -> None:
    done, calls = run(tmp_path, present=("git", "chromium"))
    assert done.returncode == 0, done.stderr
    assert not calls.exists()
