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

    @property
    def ratio(self) -> float | None:
        return self.value / self.limit_value if self.limit_value else None


@dataclass(frozen=True)
class Check:
    """A correctness check made on the bench's own run (a figure of a broken run is void)."""

    name: str
    ok: bool
    detail: str = ""


#: Units whose ratio is printed as a multiple (memory, durations) rather than a share.
MULTIPLE_UNITS = ("MiB", "s")


def _num(value: float, unit: str) -> str:
    return f"{value:,.1f} {unit}" if unit in MULTIPLE_UNITS else f"{value:,.0f} {unit}"


def render(figures: list[Figure], checks: list[Check], params: dict[str, Any],
           console: Console) -> None:
    """Print the table of *figures*, then the checks."""
    table = Table(title=f"hero_onboarding bench ({_machine()['cpus']} cores, shared by "
                        "client, servers and broker: quote the ratios)",
                  title_justify="left", caption_justify="left", caption=(
                      "ratio: measured / limit (memory: multiple of the baseline; "
                      "durations: multiple of the limit's time). "
                      "cores / box: cores the product process kept busy / share of all cores "
                      "busy, while measured.\nref.: the same limit in limits-measured.md or "
                      "mq-stack.md §8 (another day, other load)."))
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("limit (same run)")
    table.add_column("limit", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("cores / box", justify="right")
    table.add_column("ref.", justify="right", style="dim")
    section = None
    for fig in figures:
        if section is not None and fig.section != section:
            table.add_section()
        section = fig.section
        ratio, cpu = fig.ratio, fig.cpu
        table.add_row(
            fig.name, _num(fig.value, fig.unit), fig.limit_name,
            _num(fig.limit_value, fig.limit_unit or fig.unit),
            "-" if ratio is None else (f"{ratio:.2f}x" if fig.unit in MULTIPLE_UNITS
                                       else f"{ratio:.0%}"),
            f"{cpu['process_cores']:.2f} / {cpu['machine_busy']:.0%}" if cpu else "",
            fig.reference,
        )
    console.print(table)
    console.print("params: " + ", ".join(f"{k}={v}" for k, v in params.items()), style="dim")
    for check in checks:
        mark = "[green]ok[/green]" if check.ok else "[red]FAILED[/red]"
        console.print(f"{mark} {check.name}" + (f": {check.detail}" if check.detail else ""))


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def write_json(path: Path, figures: list[Figure], checks: list[Check],
               params: dict[str, Any], *, seconds: float) -> None:
    """Write the run to *path* (the same figures the table shows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "params": params,
        "seconds": round(seconds, 1),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
        "checks": [asdict(c) for c in checks],
        "ok": all(c.ok for c in checks),
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
