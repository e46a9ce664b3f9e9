"""The worker limit: a dramatiq no-op actor on RabbitMQ, in its own process.

``python -m bench.noop_worker send URL COUNT`` enqueues COUNT no-op messages (publisher
confirms on, as the product's broker); ``python -m bench.noop_worker work URL COUNT
--threads T`` consumes them with one worker of T threads and dramatiq's default
middleware, then prints the rate from the first to the last processed message as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

#: The queue of the no-op actor.
QUEUE = "bench_noop"
#: Threads that enqueue, as the payments bench does.
SEND_THREADS = 4


class Tally(dramatiq.Middleware):
    """Count processed messages; set ``done`` when *target* have been processed."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.first_s: float | None = None
        self.last_s: float | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        now = time.perf_counter()
        with self._lock:
            self.count += 1
            self.first_s = self.first_s or now
            self.last_s = now
            if self.count >= self.target:
                self.done.set()


def noop() -> None:
    """Do nothing: what is left is dramatiq's own cost per message."""


def make_broker(url: str) -> tuple[RabbitmqBroker, dramatiq.Actor[Any, Any]]:
    broker = RabbitmqBroker(url=url, confirm_delivery=True)
    dramatiq.set_broker(broker)
    return broker, dramatiq.actor(actor_name="noop", queue_name=QUEUE, broker=broker)(noop)


def send(url: str, count: int) -> dict[str, Any]:
    broker, actor = make_broker(url)

    def share(n: int) -> None:
        for _ in range(n):
            actor.send()

    threads = [
        threading.Thread(target=share, args=(count // SEND_THREADS + (i < count % SEND_THREADS),))
        for i in range(SEND_THREADS)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    broker.close()
    return {"sent": count, "seconds": seconds, "rate_per_s": count / seconds}


def work(url: str, count: int, *, threads: int, timeout_s: float) -> dict[str, Any]:
    broker, _ = make_broker(url)
    tally = Tally(count)
    broker.add_middleware(tally)
    worker = dramatiq.Worker(broker, worker_threads=threads)
    worker.start()
    try:
        tally.done.wait(timeout_s)
    finally:
        worker.stop()
        broker.close()
    span = (tally.last_s or 0.0) - (tally.first_s or 0.0)
    return {
        "processed": tally.count,
        "seconds": span,
        "threads": threads,
        "rate_per_s": (tally.count - 1) / span if span > 0 else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.noop_worker")
    parser.add_argument("mode", choices=("send", "work"))
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.mode == "send":
        result = send(args.url, args.count)
    else:
        result = work(args.url, args.count, threads=args.threads, timeout_s=args.timeout)
    json.dump(result, sys.stdout)
    return 0 if result.get("processed", args.count) >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
