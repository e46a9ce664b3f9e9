"""The run's report: faults injected, invariants checked, drain time, and the last line."""

from __future__ import annotations

from collections import defaultdict

from tests.chaos.check import Verdict
from tests.chaos.faults import FaultLog


def render(
    seed: int,
    log: FaultLog,
    verdict: Verdict,
    drained_s: tuple[float, float],
    drain: str,
    counters: dict[str, int],
    payments: int,
    total_s: float,
    self_exits: dict[str, int],
) -> str:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for fault in log.faults:
        label = f"{fault.kind} {fault.target}"
        when = f"{fault.at_s:.1f}s/{fault.at_share:.0%}"
        if fault.duration_s:
            when += f"+{fault.duration_s:.1f}s"
        by_kind[label].append(when + (f" ({fault.note})" if fault.note else ""))
    lines = ["", "faults injected", f"  {'kind':<24} {'count':>5}  when"]
    for label in sorted(by_kind):
        lines.append(f"  {label:<24} {len(by_kind[label]):>5}  {', '.join(by_kind[label])}")
    if self_exits:
        lines.append(
            "  exited on its own and restarted by the supervisor: "
            + ", ".join(f"{name} x{n}" for name, n in sorted(self_exits.items()))
        )
    lines += ["", "invariants checked"]
    lines += [f"  {name:<36} {result}" for name, result in verdict.checks]
    lines += [
        "",
        f"  webhook deliveries {counters['webhooks']} (+{counters['webhook_retries']}"
        f" retried), run {total_s:.0f}s",
        f"  settled {drained_s[0]:.1f}s after the last fault ended"
        f" ({drained_s[1]:.1f}s after the load ended)",
        f"  {drain}",
    ]
    problems = verdict.lost + verdict.doubled + verdict.credit + verdict.other
    if problems:
        lines += ["", f"problems ({len(problems)}):"] + [f"  {p}" for p in problems[:60]]
        if len(problems) > 60:
            lines.append(f"  ... and {len(problems) - 60} more")
    audit = dict(verdict.checks).get("hero-admin audit", "FAILED")
    lines += [
        "",
        f"chaos: seed {seed}, {len(log.faults)} faults, {counters['records']} records, "
        f"{payments} payments: {len(verdict.lost)} lost, {len(verdict.doubled)} doubled, "
        f"{len(verdict.credit)} credit states wrong, audit {audit}"
        + ("" if verdict.ok else " (FAILED)"),
    ]
    return "\n".join(lines)
