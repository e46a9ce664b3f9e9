"""``hero-admin aggregate`` over many nodes: one node per process, several processes at once.

Nodes are independent (each has its own repo, mirror, cursor and advisory lock), and a
walk is CPU work in Python (signature checks, TOML, the record rules), so one process
walks one node at a time and several processes walk several nodes. Each walker process
is started fresh (``spawn``: no database connection or broker channel is inherited),
configures itself from the same environment as ``hero-admin`` and pulls the nodes it is
given one after another with ``actors.aggregator.pull``, exactly as the single-process
command does; the reports come back in node order.

A walker that dies (killed, out of memory) costs only its node: that node is reported
with an error and counted as failed, its cursor stays where it was (the next aggregate
walks it again; record keys keep charges single). When ``hero-admin`` itself goes, the
walkers follow within a second instead of walking on unseen.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any

import structlog

#: Seconds between a walker's checks that ``hero-admin`` still runs.
PARENT_CHECK_S = 1.0


def walk_nodes(
    names: list[str], *, processes: int, done: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """Pull every node of *names* in up to *processes* walker processes.

    Args:
        done: called in this process with each node's report as it comes back.

    Returns:
        The reports in the order of *names*: ``PullReport.as_dict()``, or ``{"node",
        "error"}`` for a node that could not be fetched or whose walker died.

    Raises:
        Whatever a pull raised other than ``ForgeUnavailable`` (a lost database or
        broker), as the single-process command would.
    """
    reports: dict[str, dict[str, Any]] = {}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=max(1, min(processes, len(names))),
        mp_context=context,
        initializer=_start_walker,
        initargs=(os.getpid(),),
    ) as pool:
        futures = {pool.submit(_walk_one, name): name for name in names}
        try:
            for future in concurrent.futures.as_completed(futures):
                name = futures[future]
                try:
                    report = future.result()
                except concurrent.futures.process.BrokenProcessPool as exc:
                    report = {"node": name, "error": f"its walker process died: {exc}"}
                reports[name] = report
                done(report)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [reports[name] for name in names]


def _start_walker(parent: int) -> None:
    """Configure this walker as ``hero-admin`` configures itself, and watch the parent."""
    import logging

    from runtime.bootstrap import bootstrap
    from settings import Settings
    from wire.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(json_lines=True if settings.log_json is None else settings.log_json)
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    bootstrap(settings, create_database=False)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    structlog.get_logger("hero.aggregator").info("aggregator.walker_started", pid=os.getpid())


def _exit_with(parent: int) -> None:
    """End this walker once *parent* is gone (its transaction, if any, rolls back)."""
    while os.getppid() == parent:
        threading.Event().wait(PARENT_CHECK_S)
    os._exit(1)


def _walk_one(name: str) -> dict[str, Any]:
    """One node's pull in a walker: its report, or its error when it cannot be fetched."""
    from actors.aggregator import default_deliver, pull, skip_node
    from adapters.forge import ForgeUnavailable
    from models import Node

    node = Node.get_or_none(Node.name == name)
    if node is None:
        return {"node": name, "error": "no such node (removed meanwhile)"}
    try:
        return pull(node, deliver=default_deliver).as_dict()
    except ForgeUnavailable as exc:  # alerted; the other nodes go on
        return {"node": name, "error": skip_node(name, exc)["skipped"]}
