"""The scheduler: which jobs are due, and the loop that sends them."""

from __future__ import annotations

import threading

import messages
from runtime.scheduler import JOBS, Job, due_jobs, run_scheduler
from tests.support.message_contract import Sent

HOURLY = Job(messages.PullAll(), 3_600_000)
DAILY = Job(messages.PullNode(name="node-a"), 86_400_000)


class FakeClock:
    """Returns the given times in order, and sets *stop* when it hands out the last one."""

    def __init__(self, times_ms: list[int], stop: threading.Event) -> None:
        self._times = list(times_ms)
        self._stop = stop

    def __call__(self) -> int:
        now = self._times.pop(0)
        if not self._times:
            self._stop.set()
        return now


RecordingSend = Sent  # checks each message against its actor; the first *fail_calls* raise


def test_due_jobs_includes_a_job_that_never_ran() -> None:
    assert due_jobs((HOURLY,), {}, 0) == [HOURLY]


def test_due_jobs_skips_a_job_that_ran_less_than_its_period_ago() -> None:
    assert due_jobs((HOURLY,), {"pull_all": 1_000}, 3_600_999) == []


def test_due_jobs_includes_a_job_exactly_one_period_after_its_last_run() -> None:
    assert due_jobs((HOURLY,), {"pull_all": 1_000}, 3_601_000) == [HOURLY]


def test_due_jobs_decides_each_job_on_its_own_period() -> None:
    last = {"pull_all": 0, "pull_node": 0}
    assert due_jobs((HOURLY, DAILY), last, 3_600_000) == [HOURLY]


def test_default_jobs_have_positive_periods() -> None:
    assert JOBS and all(job.every_ms > 0 for job in JOBS)


def test_run_scheduler_sends_due_jobs_with_their_kwargs() -> None:
    stop = threading.Event()
    send = RecordingSend()
    run_scheduler(send, stop=stop, jobs=(DAILY,), clock_ms=FakeClock([0], stop), tick_s=0)
    assert send.calls == [("pull_node", {"name": "node-a"})]


def test_run_scheduler_sends_again_only_after_the_period() -> None:
    stop = threading.Event()
    send = RecordingSend()
    clock = FakeClock([0, 1_000_000, 3_599_999, 3_600_000, 5_000_000], stop)
    run_scheduler(send, stop=stop, jobs=(HOURLY,), clock_ms=clock, tick_s=0)
    assert len(send.calls) == 2


def test_run_scheduler_tries_a_failed_send_again_at_the_next_tick() -> None:
    stop = threading.Event()
    send = RecordingSend(fail_calls=1)
    run_scheduler(send, stop=stop, jobs=(HOURLY,), clock_ms=FakeClock([0, 5_000], stop), tick_s=0)
    assert send.calls == [("pull_all", {}), ("pull_all", {})]


def test_run_scheduler_counts_the_period_from_the_successful_send() -> None:
    stop = threading.Event()
    send = RecordingSend(fail_calls=1)
    # Fails at 0, succeeds at 5 000, so 3 600 000 is too early and 3 605 000 is due.
    clock = FakeClock([0, 5_000, 3_600_000, 3_605_000], stop)
    run_scheduler(send, stop=stop, jobs=(HOURLY,), clock_ms=clock, tick_s=0)
    assert len(send.calls) == 3


def test_run_scheduler_returns_at_once_when_stop_is_set() -> None:
    stop = threading.Event()
    stop.set()
    send = RecordingSend()
    run_scheduler(send, stop=stop, jobs=(HOURLY,), clock_ms=lambda: 0, tick_s=0)
    assert send.calls == []


def test_run_scheduler_ends_when_stop_is_set_from_another_thread() -> None:
    stop = threading.Event()
    send = RecordingSend()
    thread = threading.Thread(
        target=run_scheduler,
        args=(send,),
        kwargs={"stop": stop, "jobs": (HOURLY,), "clock_ms": lambda: 0, "tick_s": 60.0},
    )
    thread.start()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_run_scheduler_sends_the_other_due_jobs_after_a_failed_send() -> None:
    stop = threading.Event()
    send = RecordingSend(fail_calls=1)
    run_scheduler(send, stop=stop, jobs=(HOURLY, DAILY), clock_ms=FakeClock([0], stop), tick_s=0)
    assert [actor for actor, _ in send.calls] == ["pull_all", "pull_node"]
