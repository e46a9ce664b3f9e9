"""The load: usage through the node agents' intake, Stripe webhooks through the gateways.

Webhooks are delivered as Stripe does: signed at each attempt, retried until a 2xx (a
gateway killed mid-request, or answering 503 while RabbitMQ is cut, gets the same event
again). Usage is posted to each node agent's intake; the fault thread closes an agent's
gate before killing it, so no answer is lost with a journalled record (a caller cannot know
whether an unanswered record was journalled).
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from tests.chaos.oracle import Oracle
from tests.chaos.plan import Payment, Plan, Usage
from tests.chaos.stack import INTAKE_TOKEN, STRIPE_SECRET, ChaosStack
from tests.support import stripe_events


class Gate:
    """Many posters pass at once; ``closed()`` waits for them all and keeps new ones out."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inside = 0
        self._shut = False

    def __enter__(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._shut)
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._inside -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._shut = True
            self._cond.wait_for(lambda: self._inside == 0)

    def open(self) -> None:
        with self._cond:
            self._shut = False
            self._cond.notify_all()


def event_for(plan: Plan, payment: Payment, step: int) -> dict[str, Any]:
    if step < 0:
        return stripe_events.checkout_completed(
            address=payment.address,
            amount_cents=payment.cents,
            payment_intent=payment.key,
            created=int(time.time()),
        )
    totals = payment.refund_totals[: step + 1]
    refunds = None
    if payment.listed:
        amounts = [t - (totals[i - 1] if i else 0) for i, t in enumerate(totals)]
        refunds = [(f"re_{payment.key[3:]}r{i}", a) for i, a in enumerate(amounts)][::-1]
    return stripe_events.charge_refunded(
        payment_intent=payment.key,
        amount_refunded_cents=totals[-1],
        amount_cents=payment.cents,
        refunds=refunds,
    )


def deliver(
    urls: list[str],
    event: dict[str, Any],
    rng: random.Random,
    stop: threading.Event,
    counters: dict[str, int],
) -> None:
    """Post *event* to a gateway until one answers 200 (a new signature each attempt)."""
    http = requests.Session()
    while not stop.is_set():
        body, headers = stripe_events.signed(event, STRIPE_SECRET)
        url = rng.choice(urls) + "/webhooks/stripe"
        try:
            answer = http.post(url, data=body, headers=headers, timeout=20)
        except requests.RequestException:
            counters["webhook_retries"] += 1
            time.sleep(0.2)
            continue
        if answer.status_code == 200:
            counters["webhooks"] += 1
            return
        if answer.status_code == 400:
            raise RuntimeError(f"gateway refused a good event: {answer.text[:300]}")
        counters["webhook_retries"] += 1
        time.sleep(0.2)


def founding_payments(stack: ChaosStack, plan: Plan, oracle: Oracle) -> None:
    """The payments that give accounts their paid tenure, delivered before any usage."""
    stop = threading.Event()
    counters = {"webhooks": 0, "webhook_retries": 0}
    events = []
    for i, account in enumerate(plan.accounts):
        if account.tenure_h is None:
            continue
        paid_at = plan.start - dt.timedelta(hours=account.tenure_h)
        key = f"pi_found{plan.seed}x{i}"
        events.append(
            stripe_events.checkout_completed(
                address=account.address,
                amount_cents=account.founding_cents,
                payment_intent=key,
                created=int(paid_at.timestamp()),
            )
        )
        oracle.founding_payment(account.address, key, account.founding_cents, paid_at)

    def worker(n: int) -> None:
        rng = random.Random(plan.seed + n)
        for event in events[n::4]:
            deliver(stack.gateways, event, rng, stop, counters)

    for thread in _spawn(worker, 4, "founding"):
        thread.join()
    if FAILURES:
        raise FAILURES[0]


def run_webhooks(
    stack: ChaosStack,
    plan: Plan,
    oracle: Oracle,
    stop: threading.Event,
    counters: dict[str, int],
    threads: int = 6,
) -> list[threading.Thread]:
    for payment in plan.payments:
        oracle.payment(payment.address, payment.key, payment.cents)
        for total in payment.refund_totals:
            oracle.refund_total(payment.key, total)
    lock = threading.Lock()
    queue = list(reversed(plan.deliveries))
    pace = plan.size.load_s * 0.8 / max(1, len(queue))

    def worker(n: int) -> None:
        rng = random.Random(plan.seed * 100 + n)
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                index, step = queue.pop()
            began = time.monotonic()
            deliver(
                stack.gateways, event_for(plan, plan.payments[index], step), rng, stop, counters
            )
            time.sleep(max(0.0, pace * threads - (time.monotonic() - began)))

    return _spawn(worker, threads, "webhooks")


def run_usage(
    stack: ChaosStack,
    plan: Plan,
    oracle: Oracle,
    gates: dict[str, Gate],
    stop: threading.Event,
    counters: dict[str, int],
    per_node: int = 3,
) -> list[threading.Thread]:
    queues: dict[str, list[Usage]] = {name: [] for name in stack.agents}
    for record in reversed(plan.usage):
        queues[record.node].append(record)
    lock = threading.Lock()
    total = len(plan.usage)
    pace = plan.size.load_s * 0.85 / max(1, total)
    started = time.monotonic()

    def worker(n: int) -> None:
        name = list(stack.agents)[n % len(stack.agents)]
        agent = stack.agents[name]
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {INTAKE_TOKEN}"
        while not stop.is_set():
            with lock:
                if not queues[name]:
                    return
                record = queues[name].pop()
                due = started + pace * counters["records"]
            time.sleep(max(0.0, due - time.monotonic()))
            while not stop.is_set():
                with gates[name]:
                    try:
                        answer = http.post(agent.url + "/usage", json=record.body(), timeout=30)
                    except requests.RequestException:
                        answer = None
                if answer is not None and answer.status_code == 201:
                    break
                if answer is not None and answer.status_code < 500:
                    raise RuntimeError(f"intake refused a good record: {answer.text[:300]}")
                time.sleep(0.1)
            else:
                return
            with lock:
                oracle.usage(
                    answer.json()["key"],
                    record.user,
                    record.amount_cents,
                    record.applies_to,
                    record.occurred_at,
                )
                counters["records"] += 1

    return _spawn(worker, per_node * len(stack.agents), "usage")


def _spawn(target: Callable[[int], None], count: int, name: str) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=_guard, args=(target, n), name=f"{name}-{n}", daemon=True)
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


#: The first exception a load thread raised, if any; the run reports it and fails.
FAILURES: list[BaseException] = []


def _guard(target: Callable[[int], None], n: int) -> None:
    try:
        target(n)
    except BaseException as exc:  # noqa: BLE001 - reported by the run
        FAILURES.append(exc)
