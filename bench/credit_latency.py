"""Credit state at the hosts: the time from the transaction that changes a balance to the
node agent answering the new state at ``GET /credit/{address}``, under load.

A ``hero-onboarding worker`` (its credit publisher) and a ``hero-node serve`` (its bucket
watcher) run on a scratch database, vhost and bucket. Load threads post ``LOAD_PER_S``
balance changes a second to half the accounts; probe threads post one change at a time to the other
half and poll the agent (every ``POLL_S``) until it answers that sequence number. The
limit beside it is a bare NATS KV put seen by a watcher, measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import nacl.signing
import requests

from bench.report import Check, Figure, under
from bench.scratch import create_accounts, mycelium_addresses, scratch_database, scratch_vhost
from bench.usage_nats import fresh_stream
from tests.support.nats_helpers import NATS_URL, delete_bucket, delete_stream
from tests.support.procs import BIN, HeroProcess, hero_env
from tests.support.services import free_port

#: The goal: p99 from commit to the agent's answer under a second.
GOAL_P99 = under(1.0)
#: Seconds between a probe's looks at the agent.
POLL_S = 0.01
#: Probe and load threads.
PROBES, LOADERS = 4, 4
#: Balance changes per second the load threads commit together, beside the probes'.
LOAD_PER_S = 100
TOKEN = "bench-credit-intake-token"


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _raw_kv_latency(bucket: str, samples: int) -> list[float]:
    """Put *samples* values into a fresh bucket, each timed until a watcher saw it."""
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        kv = await js.create_key_value(bucket=bucket, history=1)
        watcher = await kv.watchall()
        while (await watcher.updates(timeout=2)) is not None:  # past the initial marker
            pass
        out = []
        for i in range(samples):
            began = time.perf_counter()
            await kv.put(f"k.{i % 50}", str(i).encode())
            while True:
                entry = await watcher.updates(timeout=5)
                if entry is not None and entry.value == str(i).encode():
                    break
            out.append(time.perf_counter() - began)
        await watcher.stop()
        return out
    finally:
        with contextlib.suppress(Exception):
            await nc.jetstream(timeout=5).delete_key_value(bucket)
        await nc.close()


def _post(account_id: int, cents: int, ref: str) -> int:
    """Commit one balance change; the credit sequence it wrote."""
    from actors.ledger import post
    from models import write_transaction
    from models.credit import CreditState

    with write_transaction():
        post(account_id, amount_cents=cents, kind="adjustment", ref=ref)
        return int(CreditState.get(CreditState.account == account_id).seq)


def _answer(session: requests.Session, url: str, address: str) -> dict[str, Any]:
    resp = session.get(f"{url}/credit/{address}", timeout=5)
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def _start_agent(root: Path, env: dict[str, str], log_dir: Path) -> tuple[HeroProcess, str]:
    key_path = root / "node.key"
    key_path.write_text(nacl.signing.SigningKey.generate().encode().hex())
    port = free_port()
    agent = HeroProcess(
        "node",
        {
            **env,
            "HERO_NODE_NAME": "bench-credit",
            "HERO_NODE_KEY": str(key_path),
            "HERO_NODE_JOURNAL": str(root / "journal.db"),
            "HERO_NODE_INTAKE_ADDR": f"127.0.0.1:{port}",
            "HERO_NODE_INTAKE_TOKEN": TOKEN,
            "HERO_NODE_COMMIT_INTERVAL_S": "3600",
        },
        log_dir,
        name="credit-node-agent",
    )
    with open(agent.log_path, "ab") as log:
        import subprocess

        agent.proc = subprocess.Popen(
            [str(BIN / "hero-node"), "serve"], env=agent.env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    agent.wait_http(f"{url}/healthz")
    return agent, url


def run(changes: int, accounts: int, log_dir: Path) -> tuple[list[Figure], list[Check]]:
    """Measure *changes* probe changes over *accounts* accounts; figures and checks."""
    from actors.deps import defaults, installed

    with ExitStack() as stack:
        # The changes are posted in this process (as a worker would), and posting reads the
        # credit policy from the process's dependencies: the development defaults here.
        stack.enter_context(installed(defaults()))
        root = Path(tempfile.mkdtemp(prefix="hero_bench_credit_"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        raw = asyncio.run(_raw_kv_latency(f"hero_bench_kv_{uuid.uuid4().hex[:8]}", 200))
        db_url = stack.enter_context(scratch_database("credit"))
        amqp_url = stack.enter_context(scratch_vhost("credit"))
        bucket = f"hero_bench_credit_{uuid.uuid4().hex[:8]}"
        stack.callback(delete_bucket, bucket)
        stream, prefix = fresh_stream()
        stack.callback(delete_stream, stream)
        env = hero_env(
            HERO_DATABASE_URL=db_url,
            HERO_AMQP_URL=amqp_url,
            HERO_NATS_URL=NATS_URL,
            HERO_NATS_STREAM=stream,
            HERO_NATS_SUBJECT_PREFIX=prefix,
            HERO_NATS_CREDIT_BUCKET=bucket,
            HERO_WORKER_THREADS="2",
        )
        addresses = mycelium_addresses(max(accounts, PROBES + LOADERS))
        create_accounts(addresses)
        from models import Account

        ids = {a.address: int(a.id) for a in Account.select()}
        for address in addresses:
            _post(ids[address], 10_000, f"seed:{address}")
        worker = HeroProcess("worker", env, log_dir, name="credit-worker").start()
        stack.callback(worker.stop)
        worker.wait_for_log("worker.started", timeout=60)
        agent, url = _start_agent(root, env, log_dir)
        stack.callback(agent.stop)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        deadline = time.monotonic() + 60
        while _answer(session, url, addresses[-1]).get("seq") != 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the node agent never saw the seeded states")
            time.sleep(0.05)
        half = len(addresses) // 2
        probes, load = addresses[:half], addresses[half:]
        stop = threading.Event()
        loaded = [0] * LOADERS
        latencies: list[float] = []
        missed: list[str] = []

        def loader(n: int) -> None:
            mine = load[n::LOADERS]
            every = LOADERS / LOAD_PER_S
            i, due = 0, time.perf_counter()
            while not stop.is_set():
                _post(ids[mine[i % len(mine)]], -1 if i % 2 else 1, f"load:{n}:{i}")
                loaded[n] += 1
                i += 1
                due += every
                stop.wait(max(0.0, due - time.perf_counter()))

        def prober(n: int) -> None:
            mine = probes[n::PROBES]
            own = requests.Session()
            own.headers["Authorization"] = f"Bearer {TOKEN}"
            for i in range(changes // PROBES):
                address = mine[i % len(mine)]
                seq = _post(ids[address], -1, f"probe:{n}:{i}")
                began = time.perf_counter()
                while _answer(own, url, address).get("seq", 0) < seq:
                    if time.perf_counter() - began > 30:
                        missed.append(address)
                        break
                    time.sleep(POLL_S)
                else:
                    latencies.append(time.perf_counter() - began)

        threads = [threading.Thread(target=loader, args=(n,)) for n in range(LOADERS)]
        for thread in threads:
            thread.start()
        began = time.perf_counter()
        probing = [threading.Thread(target=prober, args=(n,)) for n in range(PROBES)]
        for thread in probing:
            thread.start()
        for thread in probing:
            thread.join()
        seconds = time.perf_counter() - began
        stop.set()
        for thread in threads:
            thread.join()
        checks = [_final_check(session, url, addresses, ids)]
    checks.append(
        Check(
            f"credit latency: every one of {changes // PROBES * PROBES} changes answered",
            not missed and bool(latencies),
            f"{len(missed)} not seen within 30 s" if missed else "",
        )
    )
    details = {
        "changes": len(latencies),
        "load_changes_per_s": round(sum(loaded) / seconds, 1),
        "probe_poll_s": POLL_S,
        "max_s": round(max(latencies, default=0.0), 4),
        "mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
        "accounts": len(addresses),
        "cores": os.cpu_count(),
    }
    return _figures(latencies, raw, details), checks


def _final_check(
    session: requests.Session, url: str, addresses: list[str], ids: dict[str, int]
) -> Check:
    """After the load, the agent answers every account's last committed sequence."""
    from models.credit import CreditState

    wanted = {int(r.account_id): int(r.seq) for r in CreditState.select()}
    deadline = time.monotonic() + 30
    behind = addresses
    while behind and time.monotonic() < deadline:
        behind = [a for a in behind if _answer(session, url, a).get("seq") != wanted[ids[a]]]
        if behind:
            time.sleep(0.2)
    return Check(
        "credit latency: the agent ends with every account's last sequence",
        not behind,
        f"{len(behind)} accounts behind, e.g. {behind[:1]}" if behind else "",
    )


def _figures(latencies: list[float], raw: list[float], details: dict[str, Any]) -> list[Figure]:
    if not latencies:
        return []
    p50, p99 = _pct(latencies, 0.50), _pct(latencies, 0.99)
    return [
        Figure(
            "credit",
            "credit state: commit to node agent answer, p50",
            p50,
            "s",
            "bare NATS KV put seen by a watcher, p50",
            _pct(raw, 0.50),
            details=details,
        ),
        Figure(
            "credit",
            "credit state: commit to node agent answer, p99",
            p99,
            "s",
            "bare NATS KV put seen by a watcher, p99",
            _pct(raw, 0.99),
            details=details,
            goal=GOAL_P99,
        ),
        Figure(
            "credit",
            "credit state: commit to node agent answer, max",
            max(latencies),
            "s",
            "bare NATS KV put seen by a watcher, max",
            max(raw),
        ),
    ]
