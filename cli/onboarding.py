"""``hero-onboarding``: run the service (embedded or one role at a time) and manage it."""

from __future__ import annotations

import argparse
import sys
import threading

import peewee

import actors
from cli.checks import config_problems, service_problems
from cli.failures import (
    describe_broker_failure,
    describe_port_busy,
    is_lasting,
    is_port_busy,
    probe_broker,
)
from models import DatabaseUnavailable, check_database, migrate
from models.db import describe_failure
from models.errors import BrokerUnavailable
from runtime.bootstrap import bootstrap
from runtime.scheduler import run_scheduler
from runtime.supervisor import start_siblings, start_worker
from settings import ConfigError, Settings
from wire.logs import configure_logging
from wire.signals import stop_on_signals

#: Everything went as asked.
EXIT_OK = 0
#: The configuration is not usable (names the variable).
EXIT_CONFIG = 2
#: check-config found problems for production (or a role refused to start on them).
EXIT_NOT_READY = 3
#: The database, RabbitMQ or the HTTP port cannot be used (down, not migrated, taken).
EXIT_UNAVAILABLE = 4

#: Roles that refuse to start in production while check-config finds a problem.
CHECKED_ROLES = ("up", "gateway", "worker")
#: Roles that need RabbitMQ: alone, an in-process broker would talk to no one.
BROKER_ROLES = {
    "gateway": "a lone gateway would queue into memory that no worker reads",
    "worker": "a lone worker would read an in-process queue that no one writes to",
    "scheduler": "a lone scheduler would send to an in-process queue that no worker reads",
}

#: Roles that start while RabbitMQ does not answer yet, since services start in any order:
#: the gateway answers webhooks 503 (providers retry) and the bridge leaves NATS unacked.
#: A worker or scheduler exits EXIT_UNAVAILABLE instead and its supervisor restarts it.
WAITS_FOR_BROKER = frozenset({"gateway", "bridge"})


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
    sub.add_parser(
        "credit-republish",
        help="write every account's credit state again and publish it (a new NATS bucket)",
    )
    check = sub.add_parser(
        "check-config",
        help="validate the configuration for production, and that the database and broker answer",
    )
    check.add_argument(
        "--offline", action="store_true", help="check the values only; connect to nothing"
    )
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
        return _check_config(settings, offline=args.offline)
    if command in BROKER_ROLES and not settings.amqp_url:
        print(
            f"hero-onboarding: HERO_AMQP_URL is unset, so {BROKER_ROLES[command]}. "
            "Set it, or run `hero-onboarding up`.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if command in CHECKED_ROLES and settings.env == "prod":
        refused = _refuse_unready(command, settings)
        if refused is not None:
            return refused
    try:
        return _run(command, args, settings)
    except DatabaseUnavailable as exc:
        problem = str(exc)
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        problem = describe_failure(exc, settings.database_url)
    except BrokerUnavailable as exc:
        problem = describe_broker_failure(exc.__cause__ or exc, settings.amqp_url or "")
    except OSError as exc:
        if not is_port_busy(exc):
            raise
        problem = describe_port_busy(settings.http_host, settings.http_port)
    print(f"hero-onboarding: {problem}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def _refuse_unready(command: str, settings: Settings) -> int | None:
    """EXIT_NOT_READY, listing the problems, when a production role should not start."""
    problems = config_problems(settings)
    if not problems:
        return None
    listed = "".join(f"\n  problem: {p}" for p in problems)
    if settings.start_unready:
        print(f"hero-onboarding: starting anyway (HERO_START_UNREADY):{listed}", file=sys.stderr)
        return None
    print(
        f"hero-onboarding: {command} refused to start in HERO_ENV=prod; "
        f"`hero-onboarding check-config` finds {len(problems)} problems:{listed}",
        file=sys.stderr,
    )
    return EXIT_NOT_READY


def _run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    """Run *command* until it is stopped."""
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
    broker = bootstrap(settings, create_database=command in ("migrate", "up"))
    if command not in ("migrate", "up"):
        check_database(settings.database_url)
    down = probe_broker(settings.amqp_url) if settings.amqp_url else None
    if down is not None and (is_lasting(down) or command not in WAITS_FOR_BROKER):
        print(f"hero-onboarding: {down}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if down is not None:
        print(f"hero-onboarding: {down}; carrying on and retrying", file=sys.stderr)
    if command == "credit-republish":
        return _credit_republish(settings)
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
        from runtime.credit_publisher import start_publisher

        start_publisher(settings.nats_url, settings.nats_credit_bucket, stop)
    if command in ("up", "scheduler"):
        threading.Thread(
            target=run_scheduler, args=(actors.send,), kwargs={"stop": stop}, daemon=True
        ).start()
    if command == "up" and args.demo:
        from cli.demo import run_demo

        threading.Thread(target=run_demo, args=("var/demo", stop), daemon=True).start()
    if command == "bridge" or (command == "up" and settings.nats_url):
        from runtime.bridge import bridge_forever

        threading.Thread(target=bridge_forever, args=(settings, stop), daemon=True).start()
    try:
        if command in ("up", "gateway"):
            # Imported here: the gateway (falcon, its pages, the PDF library) costs a worker
            # or a bridge ~0.3 s of start-up it never uses.
            from runtime.gateway import build_gateway, serve, start_login_watcher

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


def _check_config(settings: Settings, *, offline: bool) -> int:
    problems = config_problems(settings)
    if not offline:
        problems += service_problems(settings)
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        return EXIT_NOT_READY
    print(f"configuration is fine for HERO_ENV={settings.env}")
    return EXIT_OK


def _credit_republish(settings: Settings) -> int:
    import asyncio

    from actors.credit import recompute_all
    from runtime.credit_publisher import run_publisher

    if not settings.nats_url:
        print("hero-onboarding: HERO_NATS_URL is unset; nowhere to publish.", file=sys.stderr)
        return EXIT_CONFIG
    count = recompute_all()
    asyncio.run(
        run_publisher(
            settings.nats_url, settings.nats_credit_bucket, threading.Event(), until_empty=True
        )
    )
    print(f"published the credit state of {count} account(s) to {settings.nats_credit_bucket}")
    return EXIT_OK


def run() -> None:
    sys.exit(main())
