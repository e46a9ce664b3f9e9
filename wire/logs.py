"""structlog set-up for every entry point: JSON lines when not on a TTY."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import structlog

#: One line at a time from the threads of a process.
_WRITE_LOCK = threading.Lock()


class LineLogger:
    """structlog's logger writing each line with its newline in one ``write``.

    structlog's ``PrintLogger`` prints, which writes the line and then its newline: with
    ``sys.stderr`` written through, that is two writes on the file descriptor, and two
    processes sharing one stderr (sibling workers, parallel walkers) glued their lines
    together between them. One write of less than the pipe's buffer is never interleaved.
    """

    def __init__(self, file: Any) -> None:
        self._file = file

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            self._file.write(message + "\n")
            self._file.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written (it may be replaced after set-up)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, json_lines: bool | None = None, level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging to stderr, as JSON unless on a terminal."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *args: LineLogger(_CurrentStderr()),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # Actors return their outcome for direct calls and for the one log line per message;
    # dramatiq warns about every such return when no Results backend is configured.
    logging.getLogger("dramatiq.worker.WorkerThread").addFilter(
        lambda record: "returned a value that is not None" not in record.getMessage()
    )
