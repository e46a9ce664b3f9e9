"""The layer contracts in pyproject.toml hold, and ``lint-imports`` breaks on a forbidden import.

Each check runs ``lint-imports`` on a copy of the packages in ``tmp_path`` (never on the
working tree), so one forbidden import can be added without touching the real code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "static")
        )
    for name in ("settings.py", "pyproject.toml"):
        shutil.copy(ROOT / name, tree / name)
    return tree


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _add_import(path: Path, statement: str) -> None:
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    assert marker in text, path
    path.write_text(text.replace(marker, f"{marker}\n{statement}\n", 1))


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return _lint(_copy_tree(tmp_path_factory.mktemp("clean")))


def test_every_contract_holds_on_the_code_as_it_is(
    clean_run: subprocess.CompletedProcess[str],
) -> None:
    assert clean_run.returncode == 0, clean_run.stdout + clean_run.stderr
    assert "0 broken" in clean_run.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("wire/otoml.py", "import models.db", "wire imports no other package"),
        ("wire/rules.py", "import peewee", "wire loads no database"),
        ("node_agent/journal.py", "import settings", "the node agent depends on wire"),
        ("node_agent/records.py", "from models import db", "the node agent depends on wire"),
        ("cli/login.py", "import gateway.auth.proofs", "hero-login depends on wire alone"),
        ("models/money.py", "import actors.ledger", "models import no actor"),
        ("adapters/email.py", "import gateway.app", "adapters import no actor"),
        ("gateway/dashboard.py", "import actors.ladder", "the gateway imports no command line"),
        ("gateway/console/views.py", "import cli.admin_ledger", "the gateway imports no command"),
        ("gateway/app.py", "import runtime.bootstrap", "the gateway imports no command line"),
        ("gateway/credit_banner.py", "import actors.deps", "the gateway imports no command"),
        ("messages/facts.py", "import models.db", "messages import only wire"),
        ("messages/__init__.py", "import dramatiq", "messages import only wire"),
        ("models/plans.py", "import runtime.bootstrap", "the runtime is the composition root"),
        ("actors/ledger.py", "import runtime.scheduler", "the runtime is the composition root"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    tree = _copy_tree(tmp_path)
    _add_import(tree / module, statement)

    done = _lint(tree)

    assert done.returncode != 0, done.stdout
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
