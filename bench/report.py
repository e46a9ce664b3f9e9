"""The bench's one table (rich) and the same figures as JSON."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Goal:
    """What a figure must reach: a share of its limit (``at_least`` on the ratio) or an
    absolute bound on the value itself (``under``: seconds, MiB)."""

    kind: str  # "ratio_at_least" | "value_under"
    target: float
    #: Why the figure cannot meet its goal whatever its value (an extrapolation).
    void: str = ""

    def met(self, value: float, ratio: float | None) -> bool | None:
        if self.void:
            return False
        if self.kind == "ratio_at_least":
            return None if ratio is None else ratio >= self.target
        return value < self.target

    def text(self, unit: str) -> str:
        if self.kind == "ratio_at_least":
            return f">= {self.target:.0%} of limit"
        return f"< {self.target:g} {unit}" + (f" ({self.void})" if self.void else "")


def at_least(share: float) -> Goal:
    """The goal of reaching *share* (0..1) of the limit measured in the same run."""
    return Goal("ratio_at_least", share)


def under(bound: float) -> Goal:
    """The goal of a value (seconds, MiB) below *bound*."""
    return Goal("value_under", bound)


@dataclass(frozen=True)
class Figure:
    """One product figure beside the limit it was measured against in the same run.

    ``ratio`` is measured / limit: the share of the limit reached for a rate, the
    multiple of the baseline for memory.
    """

    section: str
    name: str
    value: float
    unit: str
    limit_name: str
    limit_value: float
    #: The figure ``limits-measured.md`` / ``mq-stack.md`` §8 quote for this limit, if any.
    reference: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    #: Unit of the limit when it differs from the figure's (req/s beside msg/s).
    limit_unit: str = ""
    #: While measured: cores the product's process kept busy, share of the box busy.
    cpu: dict[str, float] | None = None
    #: What the figure must reach; None: measured for information.
    goal: Goal | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.limit_value if self.limit_value else None

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value, self.ratio)

    def as_json(self) -> dict[str, Any]:
        """One object of ``var/bench.json``: name, value, unit, limit, ratio, goal, met,
        then the section, the limit's name and unit and the details."""
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "limit": self.limit_value,
            "ratio": self.ratio,
            "goal": self.goal.text(self.unit) if self.goal else None,
            "met": self.met,
            "section": self.section,
            "limit_name": self.limit_name,
            "limit_unit": self.limit_unit or self.unit,
            "reference": self.reference,
            "cpu": self.cpu,
            "details": self.details,
        }


@dataclass(frozen=True)
class Check:
    """A correctness check made on the bench's own run (a figure of a broken run is void)."""

    name: str
    ok: bool
    detail: str = ""


#: Units whose ratio is printed as a multiple (memory, durations) rather than a share.
MULTIPLE_UNITS = ("MiB", "s")


def _num(value: float, unit: str) -> str:
    if unit == "s" and abs(value) < 1:  # latencies: milliseconds say what 0.0 s hides
        return f"{value * 1000:,.1f} ms"
    return f"{value:,.1f} {unit}" if unit in MULTIPLE_UNITS else f"{value:,.0f} {unit}"


def render(
    figures: list[Figure], checks: list[Check], params: dict[str, Any], console: Console
) -> None:
    """Print the table of *figures*, then the checks."""
    table = Table(
        title=f"hero_onboarding bench ({_machine()['cpus']} cores, shared by "
        "client, servers and broker: quote the ratios)",
        title_justify="left",
        caption_justify="left",
        caption=(
            "ratio: measured / limit (memory: multiple of the baseline; "
            "durations: multiple of the limit's time). "
            "cores / box: cores the product process kept busy / share of all cores "
            "busy, while measured.\nref.: the same limit in limits-measured.md or "
            "mq-stack.md §8 (another day, other load)."
        ),
    )
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("limit (same run)")
    table.add_column("limit", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("goal")
    table.add_column("met")
    table.add_column("cores / box", justify="right")
    table.add_column("ref.", justify="right", style="dim")
    section = None
    for fig in figures:
        if section is not None and fig.section != section:
            table.add_section()
        section = fig.section
        ratio, cpu = fig.ratio, fig.cpu
        table.add_row(
            fig.name,
            _num(fig.value, fig.unit),
            fig.limit_name,
            _num(fig.limit_value, fig.limit_unit or fig.unit),
            "-"
            if ratio is None
            else (f"{ratio:.2f}x" if fig.unit in MULTIPLE_UNITS else f"{ratio:.0%}"),
            fig.goal.text(fig.unit) if fig.goal else "",
            {True: "[green]met[/green]", False: "[red]not met[/red]", None: ""}[fig.met],
            f"{cpu['process_cores']:.2f} / {cpu['machine_busy']:.0%}" if cpu else "",
            fig.reference,
        )
    console.print(table)
    goals = [f for f in figures if f.goal is not None]
    met = sum(f.met is True for f in goals)
    console.print(
        f"goals met: {met} of {len(goals)}"
        + "".join(
            f"\n  [red]not met[/red] {f.name}: {f.goal.text(f.unit)}"
            for f in goals
            if f.met is not True and f.goal
        )
    )
    console.print("params: " + ", ".join(f"{k}={v}" for k, v in params.items()), style="dim")
    for check in checks:
        mark = "[green]ok[/green]" if check.ok else "[red]FAILED[/red]"
        console.print(f"{mark} {check.name}" + (f": {check.detail}" if check.detail else ""))


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(
    path: Path,
    figures: list[Figure],
    checks: list[Check],
    params: dict[str, Any],
    *,
    seconds: float,
) -> None:
    """Write the run to *path* (the same figures the table shows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "params": params,
        "seconds": round(seconds, 1),
        "figures": [f.as_json() for f in figures],
        "goals_met": sum(f.met is True for f in figures),
        "goals": sum(f.goal is not None for f in figures),
        "checks": [asdict(c) for c in checks],
        "ok": all(c.ok for c in checks),
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
