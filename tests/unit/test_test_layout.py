"""Helpers shared by tests live in tests/support: no test module imports another one
(fixtures shared through pytest's own conftest mechanism are not imports).

The chaos run (tests/chaos) is a package of its own, run as ``python -m tests.chaos``: its
modules import each other, and only tests/integration/test_chaos_short.py, which runs it
short, imports it from outside.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(r"^\s*(?:from|import)\s+tests\.(?:unit|integration)\b", re.MULTILINE)
CHAOS = re.compile(
    r"^\s*(?:from\s+tests\.chaos\b|import\s+tests\.chaos\b|from\s+tests\s+import\s+chaos\b)",
    re.MULTILINE,
)
#: The one module outside tests/chaos that imports it.
CHAOS_IMPORTER = Path("tests/integration/test_chaos_short.py")


def _matches(root: Path, pattern: re.Pattern[str], skip: Callable[[Path], bool]) -> list[str]:
    found: list[str] = []
    for folder in ("tests", "bench"):
        for path in sorted((root / folder).rglob("*.py")):
            if skip(path.relative_to(root)):
                continue
            text = path.read_text(encoding="utf-8")
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(root)}:{line}")
    return found


def imports_of_test_modules(root: Path) -> list[str]:
    """Every ``file:line`` under *root*'s tests/ and bench/ that imports a test module."""
    return _matches(root, FORBIDDEN, lambda rel: rel.name == "conftest.py")


def imports_of_chaos(root: Path) -> list[str]:
    """Every ``file:line`` under *root*'s tests/ and bench/, outside tests/chaos and its one
    importer, that imports the chaos package."""
    return _matches(
        root,
        CHAOS,
        lambda rel: rel.parts[:2] == ("tests", "chaos") or rel == CHAOS_IMPORTER,
    )


def test_no_test_module_is_imported_outside_conftest() -> None:
    assert imports_of_test_modules(ROOT) == []


def test_only_the_short_chaos_test_imports_the_chaos_package() -> None:
    assert imports_of_chaos(ROOT) == []


def test_the_check_finds_each_form_of_the_import(tmp_path: Path) -> None:
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "bench").mkdir()
    (tmp_path / "tests" / "unit" / "test_a.py").write_text(
        "from tests.unit.test_b import helper\n"
        "def f():\n"
        "    import tests.integration.test_c\n"
        "from tests.support.web import Sent\n"
    )
    (tmp_path / "bench" / "b.py").write_text("from tests.integration.conftest import Stack\n")
    (tmp_path / "tests" / "conftest.py").write_text("from tests.unit.test_b import helper\n")
    assert imports_of_test_modules(tmp_path) == [
        "tests/unit/test_a.py:1",
        "tests/unit/test_a.py:3",
        "bench/b.py:1",
    ]


def test_the_chaos_check_finds_each_form_and_spares_the_package(tmp_path: Path) -> None:
    for folder in ("tests/unit", "tests/integration", "tests/support", "tests/chaos", "bench"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_a.py").write_text(
        "from tests.chaos.oracle import Oracle\n"
        "def f():\n"
        "    import tests.chaos.run\n"
        "from tests import chaos\n"
        "from tests.chaosmonkey import x\n"
    )
    (tmp_path / "tests" / "support" / "s.py").write_text("from tests.chaos import plan\n")
    (tmp_path / "tests" / "conftest.py").write_text("import tests.chaos\n")
    (tmp_path / "bench" / "b.py").write_text("from tests.chaos.stack import ChaosStack\n")
    (tmp_path / "tests" / "chaos" / "run.py").write_text("from tests.chaos.plan import SHORT\n")
    (tmp_path / CHAOS_IMPORTER).write_text("from tests.chaos.run import run\n")
    assert imports_of_chaos(tmp_path) == [
        "tests/conftest.py:1",
        "tests/support/s.py:1",
        "tests/unit/test_a.py:1",
        "tests/unit/test_a.py:3",
        "tests/unit/test_a.py:4",
        "bench/b.py:1",
    ]
