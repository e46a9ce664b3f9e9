"""The worker process and its supervisor: more worker processes beside this one
(``HERO_WORKER_PROCESSES``), restarted when one dies."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import dramatiq
import structlog

import actors
from settings import Settings

log = structlog.get_logger("hero.runtime")


def start_worker(broker: dramatiq.Broker, settings: Settings) -> dramatiq.Worker:
    """Start consuming every queue with ``HERO_WORKER_THREADS`` threads."""
    worker = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=200)
    worker.start()
    log.info("worker.started", threads=settings.worker_threads, in_process=actors.is_in_process())
    return worker


class Siblings:
    """Worker processes started beside this one (``HERO_WORKER_PROCESSES``): one Python
    process uses about one core, so a host with more cores runs more of them."""

    def __init__(self, count: int, stop: threading.Event) -> None:
        self._count = count
        self._stop = stop
        self._procs: list[subprocess.Popen[bytes]] = []
        self._thread = threading.Thread(target=self._watch, name="siblings", daemon=True)

    def start(self) -> Siblings:
        self._procs = [self._spawn() for _ in range(self._count)]
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "HERO_WORKER_PROCESSES": "1"}
        return subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env)

    def _watch(self) -> None:
        """Restart a sibling that died, until stopping."""
        while not self._stop.wait(1.0):
            for index, proc in enumerate(self._procs):
                if proc.poll() is not None and not self._stop.is_set():
                    log.warning("worker.sibling_restarted", pid=proc.pid, code=proc.returncode)
                    self._procs[index] = self._spawn()

    def join(self, timeout_s: float = 30) -> None:
        """Ask every sibling to stop (SIGTERM) and wait for it."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_siblings(count: int, stop: threading.Event) -> Siblings:
    """Start *count* more worker processes, watched and stopped with this one."""
    log.info("worker.siblings", count=count)
    return Siblings(count, stop).start()
