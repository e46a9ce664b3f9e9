"""``hero-onboarding``: run the service (embedded or one role at a time) and manage it."""

from __future__ import annotations

import argparse
import sys
import threading

import actors
from cli.logs import configure_logging
from cli.runtime import (
    build_gateway,
    serve,
    start_login_watcher,
    start_siblings,
    start_worker,
    wire_actors,
)
from cli.scheduler import run_scheduler
from cli.signals import stop_on_signals
from models import migrate
from settings import ConfigError, Settings

#: Everything went as asked.
EXIT_OK = 0
#: The configuration is not usable (names the variable).
EXIT_CONFIG = 2
#: check-config found problems for production.
EXIT_NOT_READY = 3


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hero-onboarding", description="Onboarding website and billing backend for Hero hosts."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="gateway + in-process worker + scheduler in one process")
    up.add_argument(
        "--demo",
        action="store_true",
        help="also run a local node agent reporting usage for logged-in users",
    )
    sub.add_parser("gateway", help="serve the web gateway (needs HERO_AMQP_URL)")
    sub.add_parser("worker", help="consume messages and apply them (the only writer of money)")
    sub.add_parser("scheduler", help="send periodic messages")
    sub.add_parser("bridge", help="NATS usage messages to the workers (needs HERO_NATS_URL)")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("check-config", help="validate the configuration for production")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"hero-onboarding: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(json_lines=settings.log_json)
    command: str = args.command
    if command == "check-config":
        return _check_config(settings)
    if command == "gateway" and not settings.amqp_url:
        print(
            "hero-onboarding: HERO_AMQP_URL is unset, so a lone gateway would queue into "
            "memory that no worker reads. Set it, or run `hero-onboarding up`.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if command == "up" and args.demo and settings.env == "prod":
        print(
            "hero-onboarding: --demo charges synthetic usage; it is refused in HERO_ENV=prod.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if command == "bridge" and not settings.nats_url:
        print(
            "hero-onboarding: HERO_NATS_URL is unset; the bridge has nothing to read.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    broker = wire_actors(settings)
    if command == "migrate":
        for line in migrate():
            print(line)
        return EXIT_OK
    stop = threading.Event()
    stop_on_signals(stop)
    if command == "up":
        for line in migrate():
            print(line, file=sys.stderr)
    if settings.metrics_addr and command in ("worker", "scheduler"):
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_addr[1], addr=settings.metrics_addr[0])
    siblings = (
        start_siblings(settings.worker_processes - 1, stop)
        if command == "worker" and settings.worker_processes > 1
        else None
    )
    worker = start_worker(broker, settings) if command in ("up", "worker") else None
    if command in ("up", "worker") and settings.nats_url:
        from cli.credit_publisher import start_publisher

        start_publisher(settings.nats_url, settings.nats_credit_bucket, stop)
    if command in ("up", "scheduler"):
        threading.Thread(
            target=run_scheduler, args=(actors.send,), kwargs={"stop": stop}, daemon=True
        ).start()
    if command == "up" and args.demo:
        from cli.demo import run_demo

        threading.Thread(target=run_demo, args=("var/demo", stop), daemon=True).start()
    if command == "bridge" or (command == "up" and settings.nats_url):
        from cli.bridge import bridge_forever

        threading.Thread(target=bridge_forever, args=(settings, stop), daemon=True).start()
    try:
        if command in ("up", "gateway"):
            try:
                app = build_gateway(settings)
            except ConfigError as exc:
                print(f"hero-onboarding: configuration error: {exc}", file=sys.stderr)
                return EXIT_CONFIG
            start_login_watcher(settings, stop)
            serve(app, settings, stop=stop)
        else:
            stop.wait()
    finally:
        stop.set()
        if worker is not None:
            worker.stop()
        if siblings is not None:
            siblings.join()
        broker.close()
    return EXIT_OK


def _check_config(settings: Settings) -> int:
    problems = settings.production_problems()
    if settings.mycelium_key:
        from adapters.mycelium import KeyFileError, read_key_file

        try:
            read_key_file(settings.mycelium_key)
        except KeyFileError as exc:
            problems.append(f"HERO_MYCELIUM_KEY: {exc}")
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        return EXIT_NOT_READY
    print(f"configuration is fine for HERO_ENV={settings.env}")
    return EXIT_OK


def run() -> None:
    sys.exit(main())
