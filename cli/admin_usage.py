"""``hero-admin`` commands of the usage pipeline: nodes, aggregate, alerts, reconcile."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from actors.aggregator import default_deliver, pull, skip_node
from adapters.forge import ForgeUnavailable
from adapters.repo_url import RepoUrlRefused, check_repo_url
from cli.admin_common import EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, print_json, safe
from cli.admin_results import describe_outcome, positive_int
from cli.admin_walkers import walk_nodes
from models import Node, UsageRecord, is_sqlite
from settings import Settings
from wire.times import utcnow

#: The most walker processes ``aggregate --processes`` starts.
MAX_PROCESSES = 64
#: Walker processes by default: half the cores, the rest left to the workers charging
#: what the walkers hand over and to the database (on 2 cores, 2 walkers charged slower).
DEFAULT_PROCESSES = max(1, (os.cpu_count() or 1) // 2)
#: Default grace before a key seen on one path only is reported, in minutes.
RECONCILE_GRACE_MIN = 120
#: The longest grace accepted (a year).
MAX_GRACE_MIN = 366 * 24 * 60


def add_parsers(sub: Any, with_json: Callable[[argparse.ArgumentParser], Any]) -> None:
    node = sub.add_parser("node", help="Hero hosts that report usage").add_subparsers(
        dest="verb", required=True
    )
    add = with_json(node.add_parser("add", help="register a node (or change its repo or key)"))
    add.add_argument("name", help="the node's name (a-z, 0-9, '-', '_'; 63 at most)")
    add.add_argument(
        "--repo", required=True, type=_repo_url, help="git smart-HTTP URL or absolute local path"
    )
    add.add_argument("--pubkey", required=True, help="the node's Ed25519 public key (hex)")
    with_json(node.add_parser("list", help="registered nodes and their cursors"))

    aggregate = sub.add_parser("aggregate", help="pull node repos now (all, or one)")
    aggregate.add_argument("node", nargs="?", help="only this node (default: every node)")
    aggregate.add_argument("--json", action="store_true", help="print JSON")
    aggregate.add_argument(
        "--processes",
        type=_processes,
        default=DEFAULT_PROCESSES,
        metavar="N",
        help="walk up to N nodes at once, one process each (default: half the cores, "
        f"{DEFAULT_PROCESSES}; 1 walks them one after another in this process)",
    )

    alerts = with_json(sub.add_parser("alerts", help="open alerts (force-push, quarantine...)"))
    alerts.add_argument("--all", action="store_true", help="include resolved alerts")
    resolve = with_json(
        alerts.add_subparsers(dest="verb", required=False).add_parser(
            "resolve", help="mark open alerts resolved, as the console does (signed, audited)"
        )
    )
    resolve.add_argument(
        "ids", nargs="+", type=positive_int, metavar="ID", help="the alerts' ids (see `alerts`)"
    )
    resolve.add_argument("--reason", required=True, help="why (kept in the audit)")

    pool = sub.add_parser("pool", help="pre-deployed VMs users are given").add_subparsers(
        dest="verb", required=True
    )
    pool_add = with_json(pool.add_parser("add", help="register free VMs"))
    pool_add.add_argument("vm_ids", nargs="+", metavar="VM_ID", help="the VMs' ids")
    pool_add.add_argument("--address", help="the VM's IP address (with one VM id)")
    pool_add.add_argument(
        "--update",
        action="store_true",
        help="change the address of a VM already in the pool (refused otherwise)",
    )
    with_json(pool.add_parser("list", help="the pool and who has each VM"))

    reconcile = with_json(sub.add_parser("reconcile", help="keys seen on one path only"))
    reconcile.add_argument(
        "--grace-minutes",
        type=_grace_minutes,
        default=RECONCILE_GRACE_MIN,
        metavar="MINUTES",
        help=f"how long a key may be seen on one path only (default {RECONCILE_GRACE_MIN})",
    )


def _repo_url(text: str) -> str:
    """``--repo``, refused here already when no fetch could ever use it."""
    try:
        return check_repo_url(text)
    except RepoUrlRefused as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("repo: ")) from None


def _grace_minutes(text: str) -> int:
    """``--grace-minutes``: a whole number of minutes, 0 up to a year."""
    try:
        minutes = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of minutes") from None
    if not 0 <= minutes <= MAX_GRACE_MIN:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_GRACE_MIN} minutes, not {minutes}")
    return minutes


def _processes(text: str) -> int:
    """``--processes``: a whole number of walker processes, 1 to ``MAX_PROCESSES``."""
    try:
        count = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_PROCESSES}, not {count}")
    return count


def aggregate(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    query = Node.select().order_by(Node.name)
    if args.node:
        query = query.where(Node.name == args.node)
    nodes = list(query)
    if args.node and not nodes:
        console.print(f"no node {safe(repr(args.node))}; register it with `hero-admin node add`")
        return 1
    # SQLite has one writer: its nodes are walked here, one after another.
    if args.processes > 1 and len(nodes) > 1 and not is_sqlite():
        reports = _aggregate_parallel([n.name for n in nodes], args, console)
    else:
        reports = _aggregate_here(nodes, args, console)
    _print_reports(reports, args, console)
    return 1 if any("error" in r for r in reports) else 0


def _progress(console: Console, *, quiet: bool) -> Progress:
    """The bar of ``aggregate``: commits (or nodes) done of all, records handed over, time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


def _aggregate_here(
    nodes: list[Node], args: argparse.Namespace, console: Console
) -> list[dict[str, Any]]:
    """Every node of *nodes* pulled in this process, one after another."""
    reports: list[dict[str, Any]] = []
    with _progress(console, quiet=args.json) as bar:
        for node in nodes:
            task = bar.add_task(f"{node.name} commits", total=None, records=0)

            def show(done: int, total: int, records: int, task: Any = task) -> None:
                bar.update(task, completed=done, total=total, records=records)

            try:
                report = pull(node, deliver=default_deliver, progress=show)
                reports.append(report.as_dict())
            except ForgeUnavailable as exc:  # alerted; the other nodes go on
                reports.append({"node": node.name, "error": skip_node(node.name, exc)["skipped"]})
    return reports


def _aggregate_parallel(
    names: list[str], args: argparse.Namespace, console: Console
) -> list[dict[str, Any]]:
    """Every node of *names* pulled in up to ``--processes`` walker processes."""
    with _progress(console, quiet=args.json) as bar:
        task = bar.add_task(
            f"nodes, {min(args.processes, len(names))} at once", total=len(names), records=0
        )
        handed = [0]

        def done(report: dict[str, Any]) -> None:
            handed[0] += int(report.get("records", 0))
            bar.update(task, advance=1, records=handed[0])

        return walk_nodes(names, processes=args.processes, done=done)


def _print_reports(
    reports: list[dict[str, Any]], args: argparse.Namespace, console: Console
) -> None:
    if args.json:
        print_json(console, reports)
    else:
        for r in reports:
            if "error" in r:
                console.print(f"{safe(r['node'])}: could not fetch: {safe(r['error'])}")
                continue
            console.print(
                f"{safe(r['node'])}: {r['commits']} commits, {r['files']} files, {r['records']} "
                f"records handed over, {r['quarantined']} quarantined, {r['rejected']} rejected"
                + (
                    f"; HISTORY REWRITTEN, {len(r['vanished'])} keys vanished"
                    if r["force_push"]
                    else ""
                )
            )


def alerts_resolve(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """Resolve each alert with its own signed ``alert_resolve`` (the console's change): one
    line each, or a JSON list; the exit code is the worst outcome. No worker answering
    stops the run, the ids after it left unsent."""
    from cli.admin import WAIT_S, submit, worker_hint

    ids = list(dict.fromkeys(args.ids))
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for n, alert_id in enumerate(ids):
        outcome = submit("alert_resolve", {"alert_id": alert_id, "reason": args.reason}, settings)
        if outcome is None:
            results.append({"alert_id": alert_id, "outcome": "timeout", "waited_s": WAIT_S})
            results += [{"alert_id": i, "outcome": "not_sent"} for i in ids[n + 1 :]]
            if not args.json:
                console.print(
                    f"alert {alert_id}: sent, but no worker handled it within {WAIT_S:.0f} s"
                    + worker_hint("`hero-admin alerts --all`")
                )
                if ids[n + 1 :]:
                    console.print("not sent: " + ", ".join(str(i) for i in ids[n + 1 :]))
            code = EXIT_TIMEOUT
            break
        results.append({"alert_id": alert_id, **outcome})
        if outcome.get("outcome") != "applied":
            code = EXIT_REFUSED
            if not args.json:
                console.print(f"refused: {safe(outcome.get('reason'))}")
        elif not args.json:
            console.print(describe_outcome("alert_resolve", outcome))
    if args.json:
        print_json(console, results)
    return code


def reconcile(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """``hero-admin reconcile``: with the NATS path off there is nothing to compare."""
    if settings.nats_url is None:
        message = "the NATS path is off (HERO_NATS_URL is not set): nothing to compare"
        if args.json:
            console.print_json(json.dumps({"nats": "off", "message": message}))
        else:
            console.print(message)
        return EXIT_OK
    found = reconcile_rows(args.grace_minutes)
    if args.json:
        console.print_json(json.dumps(found))
    else:
        for name, keys in found.items():
            listed = ", ".join(keys[:20]) + (" ..." if len(keys) > 20 else "")
            console.print(f"{name}: {len(keys)}" + (f" ({listed})" if keys else ""))
    return EXIT_REFUSED if any(found.values()) else EXIT_OK


def reconcile_rows(grace_minutes: int, now: dt.datetime | None = None) -> dict[str, list[str]]:
    """Keys seen over NATS but not in git after the grace period, and the other way round.

    Raises:
        ValueError: a negative grace.
    """
    if grace_minutes < 0:
        raise ValueError(f"grace_minutes: must be 0 or more, not {grace_minutes}")
    cutoff = (now or utcnow()) - dt.timedelta(minutes=grace_minutes)
    nats_only = UsageRecord.select(UsageRecord.key).where(
        UsageRecord.seen_git_at.is_null() & (UsageRecord.seen_nats_at < cutoff)
    )
    git_only = UsageRecord.select(UsageRecord.key).where(
        UsageRecord.seen_nats_at.is_null() & (UsageRecord.seen_git_at < cutoff)
    )
    return {
        "nats_not_in_git": [r.key for r in nats_only.order_by(UsageRecord.key)],
        "git_not_in_nats": [r.key for r in git_only.order_by(UsageRecord.key)],
    }
