"""Peak resident memory of a process, sampled in a thread every 100 ms with psutil."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

#: How often the RSS is read, in seconds.
SAMPLE_INTERVAL_S = 0.1
#: Bytes in a MiB.
MIB = 1024 * 1024


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
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
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
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
