"""The aggregator's walk in-process, for profiling: N nodes x M hourly commits x R records in
local bare repos, registered on a throwaway SQLite database, pulled with the records handed
to a no-op (or JSON-encoded, as a message would be), beside ``tomli`` parsing the same files.

    python -m bench.catchup_profile [nodes] [commits] [records] [--profile] [--rounds N]

Prints walk commits/s, the tomli files/s and their ratio per round; with ``--profile`` the
top of a cProfile of one more walk. Nothing here touches RabbitMQ or PostgreSQL.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

#: Users the records are spread over.
USERS = 50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("nodes", type=int, nargs="?", default=2)
    parser.add_argument("commits", type=int, nargs="?", default=168)
    parser.add_argument("records", type=int, nargs="?", default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--encode", action="store_true", help="JSON-encode each delivery")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hero_catchup_profile_"))
    try:
        run(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> None:
    import models
    from bench.scratch import mycelium_addresses
    from bench.usage_data import make_nodes, write_repos

    models.init_database(f"sqlite:///{root}/hero.db")
    models.migrate()
    nodes = make_nodes(args.nodes, prefix="prof", seed=23)
    repos = write_repos(
        root / "repos",
        nodes,
        commits=args.commits,
        per_commit=args.records,
        users=mycelium_addresses(USERS, seed=17),
        seed=29,
    )
    for node in nodes:
        models.Node.create(
            name=node.name, repo_url=str(repos.paths[node.name]), pubkey_hex=node.pubkey
        )
    files = repos.files
    for round_ in range(args.rounds):
        walk_s = walk(root / f"mirrors{round_}", args.encode)
        parse_s = parse(files)
        commits_per_s = repos.commits / walk_s
        files_per_s = len(files) / parse_s
        print(
            f"round {round_}: walk {commits_per_s:.0f} commits/s ({walk_s:.2f} s), "
            f"tomli {files_per_s:.0f} files/s, ratio {commits_per_s / files_per_s:.1%}, "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        walk(root / "mirrors_profiled", args.encode)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)


def walk(mirror_dir: Path, encode: bool) -> float:
    """Every node pulled from scratch into *mirror_dir*; seconds taken."""
    import datetime as dt

    from actors.aggregator import ForgeAccess, pull
    from models import Node

    def deliver(records: list[dict[str, Any]]) -> None:
        if encode:
            json.dumps(records)

    Node.update(cursor_commit=None).execute()
    access = ForgeAccess(mirror_dir=str(mirror_dir))
    now = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    for node in Node.select().order_by(Node.name):
        report = pull(node, deliver=deliver, access=access, now=now)
        assert report.quarantined == report.rejected == 0, report
    return time.perf_counter() - began


def parse(files: list[bytes]) -> float:
    import tomli

    began = time.perf_counter()
    for data in files:
        tomli.loads(data.decode("utf-8"))
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
