"""The faults, at moments drawn from the seed: SIGKILL and restart, cut and slowed
connections, the Forge away, a force-push on a node's repository."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.load import Gate
from tests.chaos.stack import ChaosStack


@dataclass
class Fault:
    at_s: float
    kind: str  # kill, cut, slow, forge-down, force-push
    target: str
    duration_s: float = 0.0
    done_at_s: float | None = None
    note: str = ""


@dataclass
class FaultLog:
    faults: list[Fault] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def last_end_s(self) -> float:
        return max((f.done_at_s or 0.0 for f in self.faults), default=0.0)


def schedule(
    rng: random.Random, stack: ChaosStack, *, kills: int, cuts: int, slows: int, load_s: float
) -> list[Fault]:
    """Faults spread over the first 80% of the load; every kind of process is killed."""
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
        return round(rng.uniform(0.08, 0.8) * load_s, 1)

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
    faults.append(
        Fault(round(rng.uniform(0.4, 0.6) * load_s, 1), "force-push", rng.choice(nats_nodes))
    )
    return sorted(faults, key=lambda f: f.at_s)


class Injector:
    """Runs each fault in its own thread at its moment; one fault at a time per target."""

    def __init__(
        self, stack: ChaosStack, gates: dict[str, Gate], log: FaultLog, rng: random.Random
    ) -> None:
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
        time.sleep(max(0.0, fault.at_s - self.now()))
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
        self.stack.forge.down = True
        time.sleep(fault.duration_s)
        self.stack.forge.down = False

    def _force_push(self, fault: Fault, _: float) -> None:
        """Roll the node's Forge branch back one commit with ``git push --force``."""
        work = self.stack.run_dir / f"force-push-{fault.target}"
        url = self.stack.forge.url.replace("http://", "http://forge:s3cret@")
        url += f"/{fault.target}.git"
        for _ in range(60):
            if _git(work.parent, "clone", "-q", url, str(work)).returncode == 0:
                count = _git(work, "rev-list", "--count", "HEAD").stdout.strip()
                if count.isdigit() and int(count) >= 2:
                    break
            subprocess.run(["rm", "-rf", str(work)], check=False)
            time.sleep(1)
        else:
            raise RuntimeError("the repository never had two commits")
        _git(work, "reset", "-q", "--hard", "HEAD~1", check=True)
        for _ in range(60):  # the Forge may be away just now
            if _git(work, "push", "-q", "--force", "origin", "HEAD:main").returncode == 0:
                fault.note = "main rolled back one commit"
                return
            time.sleep(1)
        raise RuntimeError("the Forge refused the force-push for a minute")


def _git(where: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=check, timeout=60
    )
