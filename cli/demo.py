"""``hero-onboarding up --demo``: a local node agent that reports synthetic usage for
every logged-in user who has a plan and a VM, through the real journal, signed git
batches and the aggregator, so a newcomer sees the dashboard move once they use
something, and is never charged before paying. VM hours count only running VMs."""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
from dataclasses import dataclass
from typing import Any

import structlog
from dulwich.repo import Repo

from actors.aggregator import pull
from actors.usage import deliver_usage
from models import Account, Node, PlanSubscription, Session, VmAllocation, VmPoolSlot
from models.plans import is_current
from node_agent.committer import Committer, Remote, repo_path_for
from node_agent.journal import Journal
from node_agent.keys import generate_key_file, load_key
from node_agent.service import record_report
from wire.times import utcnow

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


def synthetic_usage(rng: random.Random, running_vms: int = 1) -> list[Synthetic]:
    """A round of plausible usage for one user with *running_vms* VMs running (pure,
    given the random source): VM hours only for those VMs."""
    usage = [
        Synthetic("hero_os_hour", "hero_os_hourly", 1, rng.randint(1, 3)),
        Synthetic("llm_token", "llm", rng.randint(500, 5000), rng.randint(1, 8)),
    ]
    if running_vms > 0:
        usage.append(Synthetic("vm_hour", "vm", running_vms, running_vms * rng.randint(2, 5)))
    return usage


def users_with_vms(now: dt.datetime) -> dict[str, int]:
    """Logged-in addresses whose account has an active plan and holds a VM, with the
    number of those VMs that are running (naive UTC *now*)."""
    logged_in = Session.select(Session.address).where(
        Session.ended_at.is_null() & (Session.expires_at > now)
    )
    held = (
        VmAllocation.select(Account.address, VmPoolSlot.status)
        .join(VmPoolSlot)
        .switch(VmAllocation)
        .join(PlanSubscription)
        .switch(VmAllocation)
        .join(Account)
        .where(
            VmAllocation.released_at.is_null() & is_current(now) & Account.address.in_(logged_in)
        )
    )
    users: dict[str, int] = {}
    rows: Any = held.tuples()
    for address, status in rows:
        users[address] = users.get(address, 0) + (status == "assigned")
    return users


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
    users = users_with_vms(utcnow())
    for address, running in sorted(users.items()):
        for usage in synthetic_usage(rng, running):
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
