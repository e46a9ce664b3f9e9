"""Stopping a process cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


def stop_on_signals(
    stop: threading.Event, *, on_signal: Callable[[int], None] | None = None
) -> None:
    """Set *stop* when SIGTERM or SIGINT arrives.

    The event is set from a new thread: a handler runs on the main thread between two
    bytecodes, possibly while that thread holds the event's own lock inside
    ``Event.wait``, and setting it there would deadlock (a second signal made it happen).
    """

    def handle(signum: int, frame: Any) -> None:
        if on_signal is not None:
            on_signal(signum)
        threading.Thread(target=stop.set, name="stop", daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
