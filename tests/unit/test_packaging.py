"""The lock files in requirements/ agree with pyproject.toml.

`make test-min` installs requirements/min-lock.txt, so a floor in pyproject.toml is only
tested when min-lock.txt pins exactly that floor; `make test` and the Docker image install
dev-lock.txt and lock.txt with --require-hashes, so every pin needs a hash.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(name: str) -> dict[str, Version]:
    """``{package: version}`` of a lock file, refusing a pin without a hash."""
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    found: dict[str, Version] = {}
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        follows = lines[number + 1] if number + 1 < len(lines) else ""
        assert "--hash=sha256:" in line + follows, f"{name}: {match[1]} has no hash"
        found[canonicalize_name(match[1])] = Version(match[2])
    return found


def floor(req: Requirement) -> Version:
    """The version after ``>=`` in *req*."""
    lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
    assert len(lows) == 1, f"{req}: declare exactly one floor with >="
    return lows[0]


@pytest.mark.parametrize("req", RUNTIME, ids=str)
def test_min_lock_pins_each_runtime_dependency_at_its_declared_floor(req: Requirement) -> None:
    pinned = pins("min-lock.txt").get(canonicalize_name(req.name))
    assert pinned == floor(req), (
        f"{req.name}: pyproject.toml declares >={floor(req)}, min-lock.txt pins {pinned}; "
        "run `make lock` and `make test-min`"
    )


@pytest.mark.parametrize("name", ["lock.txt", "dev-lock.txt"])
def test_lock_satisfies_every_runtime_dependency(name: str) -> None:
    locked = pins(name)
    for req in RUNTIME:
        version = locked.get(canonicalize_name(req.name))
        assert version is not None, f"{name} lacks {req.name}; run `make lock`"
        assert req.specifier.contains(version), f"{name}: {req.name}=={version} is not {req}"


def test_dev_lock_satisfies_every_dev_dependency() -> None:
    locked = pins("dev-lock.txt")
    for req in DEV:
        version = locked.get(canonicalize_name(req.name))
        assert version is not None, f"dev-lock.txt lacks {req.name}; run `make lock`"
        assert req.specifier.contains(version), f"dev-lock.txt: {req.name}=={version} is not {req}"


def test_the_image_runs_what_the_suite_tested() -> None:
    runtime, dev = pins("lock.txt"), pins("dev-lock.txt")
    differ = {name: (v, dev.get(name)) for name, v in runtime.items() if dev.get(name) != v}
    assert not differ, f"lock.txt and dev-lock.txt disagree (lock.txt, dev-lock.txt): {differ}"


def test_min_lock_keeps_the_dev_tools_of_dev_lock() -> None:
    low, dev = pins("min-lock.txt"), pins("dev-lock.txt")
    for req in DEV:
        name = canonicalize_name(req.name)
        assert low.get(name) == dev[name], f"min-lock.txt: {req.name} differs from dev-lock.txt"


def test_the_image_copies_every_package_the_project_installs() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in tool["packages"]["find"]["include"]}
    modules = {f"{name}.py" for name in tool["py-modules"]}
    copied = {
        word.rstrip("/")
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for word in line.split()[1:-1]
    }
    missing = sorted((packages | modules) - copied)
    assert not missing, f"the Dockerfile does not COPY {missing}: the image would lack them"
