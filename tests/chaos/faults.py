"""The faults, at moments drawn from the seed: SIGKILL and restart, cut and slowed
connections, the Forge away, a force-push on a node's repository.

A moment is a share of the load's progress (records answered by the intake), not a time:
a load that runs longer than planned still has its faults spread over all of it. The Forge
outage and the force-push each make the pull that must alert (``Fault.alert``), so the run
can require the alert rather than hope a scheduled pull fell into the window.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.load import Gate
from tests.chaos.stack import ChaosStack


@dataclass
class Fault:
    #: When it starts: the share of the load's records answered by then.
    at_share: float
    kind: str  # kill, cut, slow, forge-down, force-push
    target: str
    duration_s: float = 0.0
    #: Seconds into the load when it started and ended.
    at_s: float = 0.0
    done_at_s: float | None = None
    note: str = ""
    #: The alert (kind, subject) this fault made sure to cause, once it did.
    alert: tuple[str, str] | None = None


@dataclass
class FaultLog:
    faults: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def last_end_s(self) -> float:
        return max((f.done_at_s or 0.0 for f in self.faults), default=0.0)


def schedule(
    rng: random.Random, stack: ChaosStack, *, kills: int, cuts: int, slows: int
) -> list[Fault]:
    """Faults spread over 8% to 80% of the load's records; every kind of process is killed."""
    kinds = {
        "worker": [n for n in stack.roles if n.startswith("worker")],
        "gateway": [n for n in stack.roles if n.startswith("gateway")],
        "bridge": ["bridge"],
        "node": list(stack.agents),
    }
    targets = [rng.choice(names) for names in kinds.values()]
    everyone = [n for names in kinds.values() for n in names]
    targets += [rng.choice(everyone) for _ in range(max(0, kills - len(targets)))]

    def moment() -> float:
        return round(rng.uniform(0.08, 0.8), 3)

    faults = [Fault(moment(), "kill", t) for t in targets[: max(kills, 0)] or targets]
    services = ["postgresql", "rabbitmq", "nats"]
    faults += [
        Fault(
            moment(),
            "cut",
            services[i % 3] if i < 3 else rng.choice(services),
            round(rng.uniform(1.5, 5.0), 1),
        )
        for i in range(cuts)
    ]
    faults += [
        Fault(moment(), "slow", rng.choice(services), round(rng.uniform(3.0, 8.0), 1))
        for _ in range(slows)
    ]
    faults.append(Fault(moment(), "forge-down", "forge", round(rng.uniform(8.0, 15.0), 1)))
    nats_nodes = [a.name for a in stack.agents.values() if a.nats]
    faults.append(Fault(round(rng.uniform(0.4, 0.6), 3), "force-push", rng.choice(nats_nodes)))
    return sorted(faults, key=lambda f: f.at_share)


class Injector:
    """Runs each fault in its own thread at its moment; one fault at a time per target.

    *progress* is the share of the load done (0 to 1); a fault whose moment the load never
    reaches (it stopped) is not made.
    """

    def __init__(
        self,
        stack: ChaosStack,
        gates: dict[str, Gate],
        log: FaultLog,
        rng: random.Random,
        progress: Callable[[], float],
        stop: threading.Event,
    ) -> None:
        self.progress = progress
        self.stop = stop
        self.stack = stack
        self.gates = gates
        self.log = log
        self.rng = rng
        self.locks: dict[str, threading.Lock] = {}
        self.started = time.monotonic()

    def start(self, faults: list[Fault]) -> list[threading.Thread]:
        self.log.faults = faults
        self.started = time.monotonic()
        pauses = {id(f): round(self.rng.uniform(0.2, 2.0), 2) for f in faults}
        threads = [
            threading.Thread(target=self._run, args=(f, pauses[id(f)]), daemon=True) for f in faults
        ]
        for thread in threads:
            thread.start()
        return threads

    def now(self) -> float:
        return time.monotonic() - self.started

    def _run(self, fault: Fault, pause_s: float) -> None:
        while self.progress() < fault.at_share:
            if self.stop.wait(0.05):
                fault.note = "not made: the load stopped first"
                return
        lock = self.locks.setdefault(fault.target, threading.Lock())
        with lock:
            fault.at_s = round(self.now(), 1)
            try:
                getattr(self, "_" + fault.kind.replace("-", "_"))(fault, pause_s)
            except Exception as exc:  # noqa: BLE001 - a fault that could not be made is reported
                self.log.errors.append(f"{fault.kind} {fault.target}: {exc!r}")
            fault.done_at_s = round(self.now(), 1)

    def _kill(self, fault: Fault, pause_s: float) -> None:
        role = self.stack.roles[fault.target]
        gate = self.gates.get(fault.target)
        if gate is not None:
            gate.close()
        try:
            with self.stack.locks[fault.target]:
                role.kill(signal.SIGKILL)
                time.sleep(pause_s)
                role.restart()
            role.ready()
        finally:
            if gate is not None:
                gate.open()
        fault.note = "restarted from its journal" if gate is not None else "restarted"

    def _cut(self, fault: Fault, _: float) -> None:
        proxy = self.stack.proxies[fault.target]
        proxy.down()
        time.sleep(fault.duration_s)
        proxy.restore()

    def _slow(self, fault: Fault, _: float) -> None:
        proxy = self.stack.proxies[fault.target]
        proxy.delay_s = round(self.rng.uniform(0.02, 0.15), 3)
        fault.note = f"{int(proxy.delay_s * 1000)} ms per chunk"
        time.sleep(fault.duration_s)
        proxy.delay_s = 0.0

    def _forge_down(self, fault: Fault, _: float) -> None:
        """The Forge answers 503 for a while; one node is pulled meanwhile, which must alert."""
        node = self.rng.choice(list(self.stack.agents))
        ends = time.monotonic() + fault.duration_s
        self.stack.forge.down = True
        try:
            while time.monotonic() < ends - 1 and fault.alert is None:
                report = self._pull(node, timeout=ends - time.monotonic())
                if report is not None and "error" in report:
                    fault.alert = ("forge_unavailable", node)
                    fault.note = f"a pull of {node} failed meanwhile"
            time.sleep(max(0.0, ends - time.monotonic()))
        finally:
            self.stack.forge.down = False

    def _pull(self, node: str, timeout: float = 120) -> dict[str, object] | None:
        """``hero-admin aggregate NODE --json``: its report, None when it had none."""
        try:
            done = self.stack.admin("aggregate", node, "--json", timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            return None
        try:
            reports = json.loads(done.stdout)
        except ValueError:
            return None
        report = reports[0] if isinstance(reports, list) and reports else None
        return report if isinstance(report, dict) else None

    def _force_push(self, fault: Fault, _: float) -> None:
        """Rewrite the node's Forge branch with ``git push --force``: the commit the
        aggregator last read is dropped and another commit, with other content (an
        operator's note), takes its place; then pull at once: the pull must see the history
        rewritten.

        The agent's next push diverges from the new history: it must build its batches again
        on top of it (nothing lost, nothing charged twice), which the oracle checks.
        """
        node = fault.target
        work = self.stack.run_dir / f"force-push-{node}"
        url = self.stack.forge.url.replace("http://", "http://forge:s3cret@") + f"/{node}.git"
        for _ in range(60):
            if _git(work.parent, "clone", "-q", url, str(work)).returncode == 0:
                count = _git(work, "rev-list", "--count", "HEAD").stdout.strip()
                if count.isdigit() and int(count) >= 2:
                    break
            subprocess.run(["rm", "-rf", str(work)], check=False)
            time.sleep(1)
        else:
            raise RuntimeError("the repository never had two commits")
        for attempt in range(1, 11):
            head = str(self._read(node).get("head") or "")  # the aggregator's cursor now
            if _git(work, "fetch", "-q", "origin").returncode != 0 or (
                _git(work, "rev-parse", "-q", "--verify", f"{head}~1").returncode != 0
            ):
                time.sleep(1)  # the Forge is away, or one commit so far
                continue
            _git(work, "checkout", "-q", "--detach", f"{head}~1", check=True)
            (work / "NOTES.md").write_text(f"{node}: history rewritten ({attempt})\n")
            _git(work, "add", "NOTES.md", check=True)
            _git(
                work,
                "-c",
                "user.name=operator",
                "-c",
                "user.email=operator@forge",
                "commit",
                "-q",
                "-m",
                "a note in place of the last batch commit",
                check=True,
            )
            for _ in range(60):  # the Forge may be away just now
                back = _git(work, "push", "-q", "--force", "origin", "HEAD:refs/heads/main")
                if back.returncode == 0:
                    break
                time.sleep(1)
            else:
                raise RuntimeError("the Forge refused the force-push for a minute")
            if self._read(node).get("force_push"):
                fault.alert = ("force_push", node)
                fault.note = f"last commit replaced by another ({attempt}x), the pull saw it"
                return
        raise RuntimeError("no pull after a rewrite saw the history rewritten")

    def _read(self, node: str) -> dict[str, object]:
        """A pull of *node* that read the Forge (tried for a minute: it may be away)."""
        for _ in range(60):
            report = self._pull(node)
            if report is not None and "error" not in report and not report.get("skipped"):
                return report
            time.sleep(1)
        raise RuntimeError(f"no pull of {node} read the Forge for a minute")


def _git(where: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=check, timeout=60
    )
