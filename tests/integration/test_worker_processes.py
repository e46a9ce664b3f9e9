"""HERO_WORKER_PROCESSES: a worker with siblings shares the queue and stops with them."""

from __future__ import annotations

import psutil

from models import LedgerEntry
from tests.support.procs import wait_until
from tests.support.stack import ADDRESS, STRIPE_SECRET, Stack, balance, make_account, post
from tests.support.stripe_events import checkout_completed, signed


def test_a_worker_with_a_sibling_applies_everything_once_and_stops_it(stack: Stack) -> None:
    make_account()
    url = stack.gateway()
    worker = stack.worker(HERO_WORKER_PROCESSES="2")
    assert worker.proc is not None
    parent = psutil.Process(worker.proc.pid)
    siblings = wait_until(lambda: parent.children(), what="the sibling worker")
    for i in range(40):
        body, headers = signed(
            checkout_completed(address=ADDRESS, amount_cents=100 + i), STRIPE_SECRET
        )
        assert post(url, body, headers).status_code == 200
    wait_until(lambda: LedgerEntry.select().count() == 40, timeout=60, what="40 credits")
    assert balance() == sum(100 + i for i in range(40))

    worker.stop()
    gone, alive = psutil.wait_procs(siblings, timeout=30)
    assert alive == [] and len(gone) == len(siblings) == 1
