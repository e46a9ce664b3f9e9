"""Figure 1: signed Stripe webhooks/s through a real gateway, beside its two limits.

The same prepared requests are posted by the same load generator (its own process,
``THREADS`` threads with keep-alive connections) to a real ``hero-onboarding gateway``
(PostgreSQL, RabbitMQ with publisher confirms) and to a bare Falcon + waitress endpoint
with as many threads. Each webhook does one confirmed publish, so raw pika confirmed
publishes of a message of the same size, in as many threads, are the broker's limit.
No worker runs: the queue keeps every message, and its depth is checked afterwards.
"""

from __future__ import annotations

import json
import random
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import pika

from adapters.payments.stripe_provider import event_facts
from bench.limits import LIMIT_SCALE, Rate, confirmed_publishes
from bench.report import Check, Figure, at_least
from bench.scratch import create_accounts, mycelium_addresses, scratch_database, scratch_vhost
from bench.watch import CpuWindow, PeakRss
from messages.facts import message_for
from tests.support.procs import HeroProcess, hero_env, result_of, spawn, stop, wait_http
from tests.support.services import free_port
from tests.support.stripe_events import checkout_completed, signed

#: The webhook secret the bench's Stripe events are signed with.
SECRET = "whsec_bench_secret"
#: Server threads (gateway and bare endpoint) and load generator threads.
THREADS = 8
#: Requests sent before the clock starts, so every server thread has its broker channel.
WARMUP = 2 * THREADS
#: Accounts the payments are spread over.
ACCOUNTS = 200


@dataclass(frozen=True)
class WebhookRun:
    """What the webhook section measured."""

    gateway: dict[str, Any]
    bare: dict[str, Any]
    publish: Rate
    publish_1: Rate
    message_bytes: int
    gateway_rss_mib: float
    bare_rss_mib: float
    queued: int
    gateway_cpu: dict[str, float]
    bare_cpu: dict[str, float]


def prepare_requests(path: Path, addresses: list[str], count: int) -> int:
    """Write *count* distinct signed ``checkout.session.completed`` requests to *path*.

    Returns:
        The size in bytes of the broker message one of them becomes.
    """
    rng = random.Random(11)
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(count):
            event = checkout_completed(
                address=rng.choice(addresses), amount_cents=rng.randint(100, 50_000)
            )
            body, headers = signed(event, SECRET)
            out.write(
                json.dumps({"body": body.decode(), "signature": headers["Stripe-Signature"]}) + "\n"
            )
    typed = message_for(event_facts(event)[0])
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="payments", actor_name=typed.actor, args=(), kwargs=typed.kwargs, options={}
    )
    return len(message.encode())


def load(url: str, requests_path: Path, log_dir: Path, *, repeat: int = 1) -> dict[str, Any]:
    """Run the load generator against *url* in its own process; its JSON result."""
    proc = spawn(
        "bench.loadgen",
        "--url",
        url,
        "--input",
        requests_path,
        "--threads",
        THREADS,
        "--warmup",
        WARMUP,
        "--repeat",
        repeat,
        log_path=log_dir / "loadgen.log",
        stdout=subprocess.PIPE,
    )
    try:
        return result_of(proc, timeout_s=240)
    finally:
        stop(proc)


def queue_depth(amqp_url: str, queue: str) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


def measure(count: int, log_dir: Path) -> WebhookRun:
    """Run the gateway, the bare endpoint and the raw publishes; clean up after each."""
    with ExitStack() as stack:
        amqp_url = stack.enter_context(scratch_vhost("web"))
        database_url = stack.enter_context(scratch_database("web"))
        addresses = mycelium_addresses(ACCOUNTS)
        create_accounts(addresses)
        requests_path = log_dir / "webhook-requests.jsonl"
        stack.callback(requests_path.unlink, missing_ok=True)
        message_bytes = prepare_requests(requests_path, addresses, count + WARMUP)

        port = free_port()
        env = hero_env(
            HERO_HTTP_ADDR=f"127.0.0.1:{port}",
            HERO_DATABASE_URL=database_url,
            HERO_AMQP_URL=amqp_url,
            HERO_STRIPE_SECRET_KEY="sk_test_bench",
            HERO_STRIPE_WEBHOOK_SECRET=SECRET,
            HERO_SANDBOX_PAYMENTS="false",
            HERO_HTTP_THREADS=str(THREADS),
            HERO_LOG_JSON="true",
        )
        gateway = HeroProcess("gateway", env, log_dir).start()
        stack.callback(gateway.stop)
        assert gateway.proc is not None
        with PeakRss(gateway.proc.pid) as gateway_rss:
            gateway.wait_http(f"http://127.0.0.1:{port}/healthz")
            with CpuWindow(gateway.proc.pid) as gateway_cpu:
                gateway_result = load(f"http://127.0.0.1:{port}", requests_path, log_dir)
        gateway.stop()
        queued = queue_depth(amqp_url, "payments")

        port = free_port()
        bare = spawn(
            "bench.bare_server",
            "--port",
            port,
            "--threads",
            THREADS,
            log_path=log_dir / "bare_server.log",
        )
        stack.callback(stop, bare)
        with PeakRss(bare.pid) as bare_rss:
            wait_http(f"http://127.0.0.1:{port}/healthz", bare)
            with CpuWindow(bare.pid) as bare_cpu:
                bare_result = load(
                    f"http://127.0.0.1:{port}", requests_path, log_dir, repeat=LIMIT_SCALE
                )
        stop(bare)

        publish = confirmed_publishes(
            amqp_url, count=count * LIMIT_SCALE, body_bytes=message_bytes, threads=THREADS
        )
        publish_1 = confirmed_publishes(
            amqp_url, count=min(count, 1000), body_bytes=message_bytes, threads=1
        )
    return WebhookRun(
        gateway=gateway_result,
        bare=bare_result,
        publish=publish,
        publish_1=publish_1,
        message_bytes=message_bytes,
        gateway_rss_mib=gateway_rss.peak_mib,
        bare_rss_mib=bare_rss.peak_mib,
        queued=queued,
        gateway_cpu=gateway_cpu.as_dict(),
        bare_cpu=bare_cpu.as_dict(),
    )


def run(count: int, log_dir: Path) -> tuple[list[Figure], list[Check]]:
    """Measure figure 1 and the gateway's memory; the figures and the run's checks."""
    r = measure(count, log_dir)
    rate = r.gateway["rate_per_s"]
    details = {
        "gateway": r.gateway,
        "bare": r.bare,
        "message_bytes": r.message_bytes,
        "gateway_cpu": r.gateway_cpu,
        "bare_cpu": r.bare_cpu,
        "raw_publish_8_threads_per_s": r.publish.per_s,
        "raw_publish_1_thread_per_s": r.publish_1.per_s,
    }
    figures = [
        Figure(
            "webhooks",
            "webhooks/s (gateway)",
            rate,
            "req/s",
            "bare Falcon+waitress",
            r.bare["rate_per_s"],
            "6-7k (mq-stack §8)",
            details,
            cpu=r.gateway_cpu,
            goal=at_least(0.50),
        ),
        Figure(
            "webhooks",
            "webhooks/s (gateway)",
            rate,
            "req/s",
            "raw confirmed publish",
            r.publish.per_s,
            "1.9k, 1 thr",
            {"message_bytes": r.message_bytes, "raw_publish_1_thread_per_s": r.publish_1.per_s},
            cpu=r.gateway_cpu,
            limit_unit="msg/s",
        ),
        Figure(
            "memory",
            "gateway peak RSS",
            r.gateway_rss_mib,
            "MiB",
            "bare Falcon+waitress",
            r.bare_rss_mib,
        ),
    ]
    ok_200 = r.gateway["statuses"].get("200", 0)
    checks = [
        Check(
            "every webhook answered 200",
            ok_200 == count and not r.gateway["errors"],
            f"{r.gateway['statuses']}, {r.gateway['errors']} errors"
            + (f", first: {r.gateway['first_error']}" if r.gateway["first_error"] else ""),
        ),
        Check(
            "every 200 left a message in the queue",
            r.queued == count + WARMUP,
            f"{r.queued} queued for {count + WARMUP} posted",
        ),
        Check(
            "bare endpoint answered 200 to every request",
            r.bare["statuses"].get("200", 0) == count * LIMIT_SCALE,
            f"{r.bare['statuses']}",
        ),
    ]
    return figures, checks
