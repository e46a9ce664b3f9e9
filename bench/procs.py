"""The bench's own helper processes (``python -m bench.<module>``) and their lifecycle."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

#: The repository root: helper modules are run from here so ``bench`` is importable.
REPO = Path(__file__).resolve().parent.parent


def spawn(
    module: str, *args: object, log_path: Path, stdout: int | None = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """Start ``python -m <module> <args>``, its stderr appended to *log_path*."""
    with open(log_path, "a", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=REPO,
            stdout=stdout,
            stderr=log,
            text=True,
        )


def stop(proc: subprocess.Popen[str]) -> None:
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


def wait_http(url: str, proc: subprocess.Popen[str], *, timeout_s: float = 30) -> None:
    """Wait until GET *url* answers 200.

    Raises:
        RuntimeError: *proc* exited first. TimeoutError: it never answered.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode} before serving {url}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")
