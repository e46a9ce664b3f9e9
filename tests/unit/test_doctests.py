"""The examples in the product's docstrings run, and say what the code does.

STYLE.md asks for doctest examples on pure money, ladder and record rules; this runs every
one of them in ``make test`` (one test per module that has examples).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "actors",
    "adapters",
    "cli",
    "gateway",
    "messages",
    "models",
    "node_agent",
    "runtime",
    "wire",
)


def _modules() -> list[str]:
    names = ["settings"]
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if not info.name.split(".")[-1].startswith("__"):
                names.append(info.name)
    return sorted(names)


def _with_examples() -> list[str]:
    finder = doctest.DocTestFinder()
    return [
        name
        for name in _modules()
        if any(test.examples for test in finder.find(importlib.import_module(name)))
    ]


WITH_EXAMPLES = _with_examples()


def test_the_rules_named_in_the_style_guide_have_examples() -> None:
    for module in ("models.money", "models.ladder", "wire.rules", "models.plan_rules"):
        assert module in WITH_EXAMPLES, module


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
