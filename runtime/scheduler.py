"""The scheduler: sends periodic messages. Pure planning, thin loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

import messages
from messages import Message

log = structlog.get_logger("hero.scheduler")


@dataclass(frozen=True)
class Job:
    """*message* sent every *every_ms* milliseconds."""

    message: Message
    every_ms: int

    @property
    def actor(self) -> str:
        """The name of the actor the job's message goes to."""
        return self.message.actor


#: What runs on a schedule.
JOBS: tuple[Job, ...] = (
    Job(messages.RetryParkedItems(), 3_600_000),
    Job(messages.RefreshTiers(), 86_400_000),
    Job(messages.PullAll(), 3_600_000),
    Job(messages.ExpirePlans(), 300_000),
    Job(messages.SendNotifications(), 60_000),
    Job(messages.ReconcileClickpesaTopups(), 600_000),
    Job(messages.SuspendExhausted(), 60_000),
    Job(messages.CheckPendingKyc(), 900_000),
)


def due_jobs(jobs: tuple[Job, ...], last_run_ms: dict[str, int], now_ms: int) -> list[Job]:
    """The jobs to send at *now_ms*: never run, or run at least ``every_ms`` ago.

    >>> job = Job(messages.PullAll(), 1000)
    >>> [j.actor for j in due_jobs((job,), {}, 5)], due_jobs((job,), {"pull_all": 5}, 900)
    (['pull_all'], [])
    """
    return [j for j in jobs if now_ms - last_run_ms.get(j.actor, -j.every_ms) >= j.every_ms]


def run_scheduler(
    send: Callable[[Message], Any],
    *,
    stop: threading.Event,
    jobs: tuple[Job, ...] = JOBS,
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    tick_s: float = 5.0,
) -> None:
    """Send due jobs until *stop* is set; a failed send is tried again next tick."""
    last_run: dict[str, int] = {}
    while not stop.is_set():
        now = clock_ms()
        for job in due_jobs(jobs, last_run, now):
            try:
                send(job.message)
                last_run[job.actor] = now
                log.info("scheduler.sent", actor=job.actor)
            except Exception as exc:  # noqa: BLE001 - keep scheduling; retried next tick
                log.warning("scheduler.send_failed", actor=job.actor, error=repr(exc))
        stop.wait(tick_s)
