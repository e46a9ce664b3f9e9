"""Processes sharing one stderr (sibling workers, parallel walkers) keep their log lines
whole: each line goes out in one write, so every line an operator or a test reads is JSON."""

from __future__ import annotations

import json
import subprocess
import sys

LINES = 3000

SCRIPT = f"""
import structlog
from wire.logs import configure_logging
configure_logging(json_lines=True)
log = structlog.get_logger("t")
for i in range({LINES}):
    log.info("line", n=i, pad="x" * 40)
"""


def test_two_processes_on_one_stderr_never_glue_their_lines() -> None:
    writer = (
        f"import subprocess, sys\n"
        f"procs = [subprocess.Popen([sys.executable, '-c', {SCRIPT!r}]) for _ in range(2)]\n"
        f"sys.exit(max(p.wait() for p in procs))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", writer], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 2 * LINES
    assert all(json.loads(line)["event"] == "line" for line in lines)
