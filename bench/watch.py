"""Watching a process while it is measured: its peak RSS and the CPU it (and the box) used.

``PeakRss`` samples the resident memory in a thread every 100 ms with psutil.
``CpuWindow`` notes, between ``start()`` and ``stop()``, how many cores the process kept
busy and how busy all cores were, so each rate can be read against "was the box full?".
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import psutil

#: How often the RSS is read, in seconds.
SAMPLE_INTERVAL_S = 0.1
#: Bytes in a MiB.
MIB = 1024 * 1024
#: What psutil raises once a process is gone or out of reach.
GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


class PeakRss:
    """Track the largest RSS of one process from ``start()`` until ``stop()`` or its exit."""

    def __init__(self, pid: int, *, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._process = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self.peak_bytes = 0
        self.samples = 0

    def start(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> PeakRss:
        if self._thread.is_alive():
            self._sample()
            self._stop.set()
            self._thread.join()
        return self

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MIB

    def _sample(self) -> bool:
        try:
            rss = self._process.memory_info().rss
        except GONE:
            return False
        self.peak_bytes = max(self.peak_bytes, rss)
        self.samples += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            if not self._sample():
                return

    def __enter__(self) -> PeakRss:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class CpuWindow:
    """Cores kept busy by one process, and share of the machine busy, over a window."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._began: tuple[float, float, Any] | None = None
        #: CPU seconds of the process over the window / the window's wall seconds.
        self.process_cores = 0.0
        #: Share of all cores busy (any process) over the window, 0..1.
        self.machine_busy = 0.0

    def _now(self) -> tuple[float, float, Any]:
        try:
            times = self._process.cpu_times()
            used = float(times.user + times.system)
        except GONE:
            used = float("nan")
        return time.perf_counter(), used, psutil.cpu_times()

    def start(self) -> CpuWindow:
        self._began = self._now()
        return self

    def stop(self) -> CpuWindow:
        if self._began is None:
            return self
        (wall0, used0, box0), (wall1, used1, box1) = self._began, self._now()
        self._began = None
        if wall1 > wall0:
            self.process_cores = (used1 - used0) / (wall1 - wall0)
        total = sum(box1) - sum(box0)
        idle = (box1.idle + getattr(box1, "iowait", 0.0)) - (
            box0.idle + getattr(box0, "iowait", 0.0)
        )
        self.machine_busy = 1 - idle / total if total > 0 else 0.0
        return self

    def as_dict(self) -> dict[str, float]:
        return {
            "process_cores": round(self.process_cores, 2),
            "machine_busy": round(self.machine_busy, 2),
        }

    def __enter__(self) -> CpuWindow:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
