"""Real processes for the integration tests and the bench: hero-onboarding roles, helper
modules (``python -m ...``) that print a JSON result, and their lifecycle.

The one home of these helpers: ``bench`` imports them from here, as the tests do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
#: The repository root: helper modules run from here so ``bench`` and ``tests`` import.
REPO = Path(__file__).resolve().parents[2]


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

    def _check_alive(self) -> None:
        if self.proc and self.proc.poll() is not None:
            raise RuntimeError(f"{self.role} exited {self.proc.returncode}:\n{self.log_text}")

    @property
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, needle: str, *, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text.count(needle) >= count:
                return
            self._check_alive()
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
            self._check_alive()
            time.sleep(0.05)
        raise TimeoutError(f"{needles} x{count} not in {self.role} log:\n{self.log_text[-3000:]}")

    def wait_http(self, url: str, timeout: float = 30) -> None:
        assert self.proc is not None, "start() first"
        wait_http(url, self.proc, timeout_s=timeout, log=lambda: self.log_text)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)


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


def spawn(
    module: str, *args: object, log_path: Path, stdout: int | None = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """Start ``python -m <module> <args>`` from the repository root, its stderr appended to
    *log_path*."""
    with open(log_path, "a", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=REPO,
            stdout=stdout,
            stderr=log,
            text=True,
        )


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate *proc* (kill it if it lingers) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def result_of(proc: subprocess.Popen[str], *, timeout_s: float) -> dict[str, Any]:
    """Wait for *proc* (started with ``stdout=PIPE``) and parse the JSON it printed.

    Raises:
        RuntimeError: it failed or printed no JSON.
    """
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise RuntimeError(f"{proc.args!r} did not finish in {timeout_s:.0f} s") from None
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"{proc.args!r} exited {proc.returncode}: {out[-2000:]!r}")
    result: dict[str, Any] = json.loads(out)
    return result


def run_module(module: str, *args: object, log_path: Path, timeout_s: float) -> dict[str, Any]:
    """Run ``python -m <module> <args>`` to its end and return the JSON it printed."""
    proc = spawn(module, *args, log_path=log_path, stdout=subprocess.PIPE)
    try:
        return result_of(proc, timeout_s=timeout_s)
    finally:
        stop(proc)


def wait_http(
    url: str,
    proc: subprocess.Popen[Any],
    *,
    timeout_s: float = 30,
    log: Callable[[], str] = str,
) -> None:
    """Wait until GET *url* answers 200.

    Raises:
        RuntimeError: *proc* exited first. TimeoutError: it never answered. Either message
        ends with what *log* returns (the process's log).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args!r} exited {proc.returncode} before serving {url}:\n{log()}"
            )
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s:\n{log()[-3000:]}")
