"""The node agent's command line run in-process, for the record and CLI tests."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from node_agent.cli import main

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def run_main(*argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in-process; returns (exit code, stdout, stderr).

    Output goes to StringIO buffers rather than capsys: the CLI configures structlog with
    cached loggers, and a logger cached on capsys's stream would fail once it is closed.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def node_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only this test's HERO_* variables (node ``node-a``, a journal in *tmp_path*);
    logging configuration put back after.

    The CLI's logging set-up caches loggers on first use, which would hide later tests'
    log lines from capture_logs: structlog's test defaults are kept instead.
    """
    for name in list(os.environ):
        if name.startswith("HERO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HERO_NODE_NAME", "node-a")
    monkeypatch.setenv("HERO_NODE_JOURNAL", str(tmp_path / "j.db"))
    monkeypatch.setattr("node_agent.cli.configure_logging", lambda: None)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
