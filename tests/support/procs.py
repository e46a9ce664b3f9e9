"""Run hero-onboarding roles as real processes for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent


def hero_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without HERO_* leftovers, plus *overrides*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERO_")}
    env.update({"HERO_LOG_JSON": "true", "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


class HeroProcess:
    """One ``hero-onboarding ROLE`` process with its log in a file."""

    def __init__(self, role: str, env: dict[str, str], log_dir: Path, name: str | None = None):
        self.role = role
        self.env = env
        self.log_path = log_dir / f"{name or role}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HeroProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [str(BIN / "hero-onboarding"), self.role],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, needle: str, *, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text.count(needle) >= count:
                return
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited {self.proc.returncode}:\n{self.log_text}")
            time.sleep(0.05)
        raise TimeoutError(f"{needle!r} x{count} not in {self.role} log:\n{self.log_text[-3000:]}")

    def count_lines(self, *needles: str) -> int:
        """How many log lines contain every one of *needles*."""
        return sum(all(n in line for n in needles) for line in self.log_text.splitlines())

    def wait_lines(self, *needles: str, count: int = 1, timeout: float = 30) -> None:
        """Wait until *count* log lines contain every one of *needles*."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count_lines(*needles) >= count:
                return
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited {self.proc.returncode}:\n{self.log_text}")
            time.sleep(0.05)
        raise TimeoutError(f"{needles} x{count} not in {self.role} log:\n{self.log_text[-3000:]}")

    def wait_http(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited {self.proc.returncode}:\n{self.log_text}")
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{url} did not answer:\n{self.log_text[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def hero_admin(
    *args: str, env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run the real ``hero-admin`` CLI."""
    return subprocess.run(
        [str(BIN / "hero-admin"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(predicate, *, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    """Poll *predicate* until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")
