"""``var/bench.json`` and the printed table: every figure with its limit, ratio, goal, met."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from bench.report import Check, Figure, Goal, at_least, render, under, write_json


def _figures() -> list[Figure]:
    return [
        Figure("usage", "via git", 8000.0, "rec/s", "raw SQL", 10000.0, goal=at_least(0.75)),
        Figure("usage", "via NATS", 5000.0, "rec/s", "raw pull", 10000.0, goal=at_least(0.65)),
        Figure("memory", "agent RSS", 40.0, "MiB", "raw publisher", 30.0, goal=under(50.0)),
        Figure(
            "usage",
            "full catch-up",
            30.0,
            "s",
            "parse",
            10.0,
            goal=Goal("value_under", 60.0, void="extrapolated"),
        ),
        Figure("memory", "worker RSS", 90.0, "MiB", "idle", 60.0),
    ]


def test_json_holds_one_object_per_figure_with_the_goal_and_whether_met(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    write_json(path, _figures(), [Check("ok", True)], {}, seconds=1.0)
    doc = json.loads(path.read_text())
    figures = doc["figures"]
    assert all(
        {"name", "value", "unit", "limit", "ratio", "goal", "met"} <= f.keys() for f in figures
    )
    by_name = {f["name"]: f for f in figures}
    assert by_name["via git"]["ratio"] == 0.8 and by_name["via git"]["met"] is True
    assert by_name["via NATS"]["met"] is False
    assert by_name["agent RSS"]["met"] is True and by_name["agent RSS"]["goal"] == "< 50 MiB"
    assert by_name["full catch-up"]["met"] is False  # under 60 s, but not measured
    assert by_name["worker RSS"]["goal"] is None and by_name["worker RSS"]["met"] is None
    assert (doc["goals"], doc["goals_met"]) == (4, 2)


def test_table_prints_goal_and_verdict_for_each_figure() -> None:
    out = io.StringIO()
    render(_figures(), [Check("ok", True)], {}, Console(file=out, width=250))
    text = out.getvalue()
    assert ">= 75% of limit" in text and "< 50 MiB" in text
    assert text.count("not met") == 2 + 2  # two rows, two lines of the summary
    assert "goals met: 2 of 4" in text


def test_a_ratio_goal_without_a_limit_is_neither_met_nor_failed() -> None:
    fig = Figure("usage", "x", 1.0, "rec/s", "none", 0.0, goal=at_least(0.5))
    assert fig.ratio is None and fig.met is None


def test_latencies_under_a_second_print_in_milliseconds() -> None:
    figures = [Figure("latency", "p99", 0.1234, "s", "bare p99", 0.0008, goal=under(1.0))]
    out = io.StringIO()
    render(figures, [Check("ok", True)], {}, Console(file=out, width=250))
    text = out.getvalue()
    assert "123.4 ms" in text and "0.8 ms" in text and "0.1 s" not in text
