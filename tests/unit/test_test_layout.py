"""Helpers shared by tests live in tests/support: no test module imports another one
(fixtures shared through pytest's own conftest mechanism are not imports)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(r"^\s*(?:from|import)\s+tests\.(?:unit|integration)\b", re.MULTILINE)


def imports_of_test_modules(root: Path) -> list[str]:
    """Every ``file:line`` under *root*'s tests/ and bench/ that imports a test module."""
    found: list[str] = []
    for folder in ("tests", "bench"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.name == "conftest.py":
                continue
            text = path.read_text(encoding="utf-8")
            for match in FORBIDDEN.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(root)}:{line}")
    return found


def test_no_test_module_is_imported_outside_conftest() -> None:
    assert imports_of_test_modules(ROOT) == []


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
