"""The process helpers the integration tests and the bench share (tests/support/procs.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import REPO, result_of, run_module, spawn, stop, wait_http


def test_a_helper_module_runs_from_the_repository_and_its_json_is_returned(
    tmp_path: Path,
) -> None:
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"records": 3}))
    log = tmp_path / "helper.log"
    assert run_module("json.tool", data, log_path=log, timeout_s=60) == {"records": 3}
    assert (REPO / "bench" / "__main__.py").exists()


def test_a_helper_that_fails_or_prints_nothing_is_an_error_naming_it(tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    with pytest.raises(RuntimeError, match="json.tool"):
        run_module("json.tool", tmp_path / "missing.json", log_path=log, timeout_s=60)
    assert "missing.json" in log.read_text()


def test_a_helper_that_does_not_finish_is_stopped(tmp_path: Path) -> None:
    proc = spawn("http.server", "0", log_path=tmp_path / "h.log", stdout=subprocess.PIPE)
    with pytest.raises(RuntimeError, match="did not finish"):
        result_of(proc, timeout_s=0.5)
    assert proc.poll() is not None


def test_waiting_for_a_process_that_exited_names_it_and_shows_its_log(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(RuntimeError, match=r"exited 3 before serving .*\n.*the log"):
        wait_http("http://127.0.0.1:9/healthz", proc, log=lambda: "the log")


def test_stop_terminates_and_reaps() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop(proc)
    assert proc.returncode is not None
    stop(proc)  # stopping a stopped process is a no-op
