"""One time convention in every package (``wire.times``): no module writes its own ISO
form with a Z (``wire.times.iso_z`` does) nor builds a naive "now" (``wire.times.utcnow``
is aware; a timestamp column turns it into naive UTC itself, ``models.fields``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("actors", "adapters", "cli", "gateway", "messages", "models", "node_agent", "runtime")
MODULES = ("settings.py",)
#: The forms the rule forbids, each with what to write instead.
FORBIDDEN = {
    "an ISO form of its own (use wire.times.iso_z)": re.compile(
        r"""isoformat\([^)]*\)\s*\+\s*["']Z["']|isoformat\([^)]*\)}Z"""
    ),
    "a naive now (use wire.times.utcnow)": re.compile(
        r"datetime\.utcnow\(|utcfromtimestamp\(|\.now\(\)|today\(\)|tzinfo=None"
    ),
    "models.utcnow (gone: use wire.times.utcnow)": re.compile(
        r"^\s*from models(?:\.accounts)? import [^\n]*\butcnow\b|\bmodels\.utcnow\b", re.MULTILINE
    ),
}
#: Where building a naive value is the point: the column's own conversion.
ALLOWED = {Path("models/fields.py")}


def time_rule_breaks(root: Path) -> list[str]:
    """Every ``file:line: what`` in *root*'s packages that breaks the time convention."""
    files = [p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    files += [root / m for m in MODULES if (root / m).exists()]
    found: list[str] = []
    for path in files:
        rel = path.relative_to(root)
        if rel in ALLOWED:
            continue
        text = path.read_text(encoding="utf-8")
        for what, pattern in FORBIDDEN.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{rel}:{line}: {what}")
    return found


def test_no_package_module_writes_its_own_iso_form_or_a_naive_now() -> None:
    assert time_rule_breaks(ROOT) == []


def test_the_check_finds_each_form(tmp_path: Path) -> None:
    (tmp_path / "actors").mkdir()
    (tmp_path / "actors" / "a.py").write_text(
        'stamp = when.isoformat() + "Z"\n'
        "now = dt.datetime.utcnow()\n"
        "now = dt.datetime.now(dt.UTC).replace(tzinfo=None)\n"
        "day = dt.date.today()\n"
        "from models import Account, utcnow\n"
        'text = f"{when.isoformat()}Z"\n'
        "ok = iso_z(utcnow())\n"
    )
    assert time_rule_breaks(tmp_path) == [
        "actors/a.py:1: an ISO form of its own (use wire.times.iso_z)",
        "actors/a.py:6: an ISO form of its own (use wire.times.iso_z)",
        "actors/a.py:2: a naive now (use wire.times.utcnow)",
        "actors/a.py:3: a naive now (use wire.times.utcnow)",
        "actors/a.py:4: a naive now (use wire.times.utcnow)",
        "actors/a.py:5: models.utcnow (gone: use wire.times.utcnow)",
    ]
