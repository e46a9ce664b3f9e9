"""axe-core comes inside the axe-playwright-python package at the version pyproject asks
for, so the accessibility checks of the browser tests fetch nothing when they run."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _floor() -> tuple[int, ...]:
    dev = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["dev"]
    [spec] = [d for d in dev if d.startswith("axe-playwright-python")]
    match = re.fullmatch(r"axe-playwright-python>=([\d.]+)", spec)
    assert match, spec
    return tuple(int(p) for p in match.group(1).split("."))


def test_the_installed_axe_playwright_python_meets_the_floor() -> None:
    installed = tuple(int(p) for p in re.findall(r"\d+", version("axe-playwright-python"))[:3])
    assert installed >= _floor()


def test_axe_core_is_bundled_in_the_package() -> None:
    script = files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")
    found = re.search(r"axe v(\d+)\.(\d+)\.(\d+)", script[:200])
    assert found and (int(found.group(1)), int(found.group(2))) >= (4, 8)
