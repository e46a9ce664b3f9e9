"""The node agent's command line run in-process, for the record and CLI tests."""

from __future__ import annotations

import contextlib
import io

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
