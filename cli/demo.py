"""``hero-onboarding up --demo``: a local node agent that reports synthetic usage for
every logged-in user, through the real journal, signed git batches and the aggregator,
so a newcomer sees the dashboard move."""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
from dataclasses import dataclass

import structlog
from dulwich.repo import Repo

from actors.aggregator import pull
from actors.usage import deliver_usage
from models import Node, Session, utcnow
from node_agent.committer import Committer, Remote, repo_path_for
from node_agent.journal import Journal
from node_agent.keys import generate_key_file, load_key
from node_agent.service import record_report

log = structlog.get_logger("hero.demo")

#: The demo node's name.
DEMO_NODE = "demo"
#: Seconds between rounds of synthetic usage.
ROUND_S = 15


@dataclass(frozen=True)
class Synthetic:
    """One synthetic report: what a Hero host would say a user consumed."""

    resource_kind: str
    applies_to: str
    quantity: int
    amount_cents: int


def synthetic_usage(rng: random.Random) -> list[Synthetic]:
    """A round of plausible usage for one user (pure, given the random source)."""
    return [
        Synthetic("hero_os_hour", "hero_os_hourly", 1, rng.randint(1, 3)),
        Synthetic("llm_token", "llm", rng.randint(500, 5000), rng.randint(1, 8)),
        Synthetic("vm_hour", "vm", 1, rng.randint(2, 5)),
    ]


def run_demo(folder: str, stop: threading.Event, *, seed: int | None = None) -> None:
    """Report usage for logged-in users every ``ROUND_S`` seconds until *stop*."""
    os.makedirs(folder, exist_ok=True)
    key_path = os.path.join(folder, "node.key")
    key = load_key(key_path) if os.path.exists(key_path) else generate_key_file(key_path)
    forge = os.path.join(folder, "forge", f"{DEMO_NODE}.git")
    if not os.path.isdir(forge):
        os.makedirs(os.path.dirname(forge), exist_ok=True)
        Repo.init_bare(forge, mkdir=True).close()
    Node.insert(
        name=DEMO_NODE,
        repo_url=os.path.abspath(forge),
        pubkey_hex=key.verify_key.encode().hex(),
        created_at=utcnow(),
    ).on_conflict(action="NOTHING", conflict_target=[Node.name]).execute()
    journal_path = os.path.join(folder, f"node-{DEMO_NODE}.journal.db")
    journal = Journal(journal_path, node=DEMO_NODE)
    committer = Committer(
        repo_path_for(journal_path),
        node=DEMO_NODE,
        key=key,
        remote=Remote(os.path.abspath(forge)),
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    rng = random.Random(seed)
    log.info("demo.started", node=DEMO_NODE, every_s=ROUND_S)
    try:
        while not stop.wait(ROUND_S):
            try:
                _round(journal, committer, rng)
            except Exception:  # the demo must never take the product down
                log.exception("demo.round_failed")
    finally:
        journal.close()


def _round(journal: Journal, committer: Committer, rng: random.Random) -> None:
    now = dt.datetime.now(dt.UTC)
    users = sorted(
        {
            s.address
            for s in Session.select(Session.address).where(
                Session.ended_at.is_null() & (Session.expires_at > utcnow())
            )
        }
    )
    for address in users:
        for usage in synthetic_usage(rng):
            record_report(
                journal,
                {
                    "user": address,
                    "resource_kind": usage.resource_kind,
                    "applies_to": usage.applies_to,
                    "quantity": usage.quantity,
                    "amount_cents": usage.amount_cents,
                },
                clock=lambda: now,
            )
    if users:
        committer.run(journal, include_open=True)
        pull(Node.get(Node.name == DEMO_NODE), deliver=lambda r: deliver_usage(r, "git"))
