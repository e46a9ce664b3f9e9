"""Server-side SVG charts: usage by day and category, drawn without JavaScript."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

from models.money import format_cents

#: Category order and colour in the chart (colour-blind friendly).
CATEGORY_COLOURS: dict[str, str] = {
    "hero_os_hourly": "#2453d4",
    "llm": "#d97706",
    "vm": "#0f9d74",
}
CATEGORY_LABELS = {"hero_os_hourly": "Hero OS", "llm": "LLM", "vm": "VMs"}


@dataclass(frozen=True)
class DayUsage:
    """Charged cents of one day, by category."""

    day: dt.date
    cents: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.cents.values())


def usage_svg(days: list[DayUsage], *, width: int = 640, height: int = 220) -> str:
    """A stacked bar chart of charged cents per day, with an accessible title and labels.

    >>> "<svg" in usage_svg([DayUsage(dt.date(2026, 11, 21), {"llm": 120})])
    True
    """
    left, bottom, top = 56, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((d.total for d in days), default=0) or 100
    tick = nice_step(peak)
    scale = 4 * tick
    n = max(len(days), 1)
    slot = plot_w / n
    bar = max(min(slot * 0.7, 40), 2)
    total = sum(d.total for d in days)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="usage-title" class="chart">',
        f'<title id="usage-title">Usage charged per day: {format_cents(total)} over '
        f"{len(days)} days</title>",
    ]
    for i in range(5):
        value = tick * i
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{escape(format_cents(value))}</text>"
        )
    for index, day in enumerate(days):
        x = left + slot * index + (slot - bar) / 2
        y = top + plot_h
        for category, colour in CATEGORY_COLOURS.items():
            cents = day.cents.get(category, 0)
            if cents <= 0:
                continue
            h = plot_h * cents / scale
            y -= h
            label = f"{day.day:%b %d} {CATEGORY_LABELS[category]}: {format_cents(cents)}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(label)}</title></rect>'
            )
        every = max(len(days) // 7, 1)
        if (len(days) - 1 - index) % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                f'class="axis">{day.day:%b %d}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def nice_step(peak: int) -> int:
    """The grid step in cents: the smallest 1, 2, 2.5 or 5 x 10^n (whole cents) with four
    steps reaching *peak*.

    >>> nice_step(28), nice_step(730), nice_step(1), nice_step(100)
    (10, 200, 1, 25)
    """
    need = -(-peak // 4)
    magnitude = 1
    while True:
        for step in (1, 2, 5, 10) if magnitude == 1 else (1, 2, 2.5, 5):
            candidate = int(step * magnitude)
            if candidate >= need:
                return candidate
        magnitude *= 10
