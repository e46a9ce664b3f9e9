"""One chaos run: set up, load and faults together, drain, compare, report."""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2

from tests.chaos import check, credit, faults, load
from tests.chaos.drain import drain
from tests.chaos.oracle import PLANS, Oracle
from tests.chaos.plan import FULL, SHORT, Plan, Size, draw
from tests.chaos.report import render
from tests.chaos.stack import ChaosStack

#: The run's database forgets usage keys: see ``mutate``.
MUTATIONS = ("drop-usage-unique",)


def mutate(db_url: str, mutation: str) -> None:
    """Break the run's own database on purpose, to show the oracle can fail.

    ``drop-usage-unique``: the unique index on ``usage_record.key`` no longer keeps a key
    single: a trigger deletes the earlier row of a key before each insert, so the insert
    always goes in and a record that arrives twice (NATS and git) is charged twice. (Dropping
    the index alone would make ``ON CONFLICT (key)`` fail outright, not double.)
    """
    if mutation != "drop-usage-unique":
        raise SystemExit(f"CHAOS_MUTATE: {mutation!r} is not one of {', '.join(MUTATIONS)}")
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE FUNCTION chaos_forget_key() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN DELETE FROM usage_record WHERE key = NEW.key; RETURN NEW; END $$"
        )
        cur.execute(
            "CREATE TRIGGER chaos_forget_key BEFORE INSERT ON usage_record "
            "FOR EACH ROW EXECUTE FUNCTION chaos_forget_key()"
        )


def wait(what: str, predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def count(db_url: str, sql: str) -> int:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return int(cur.fetchone()[0])


def operations(
    stack: ChaosStack, plan: Plan, oracle: Oracle, stop: threading.Event, errors: list[str]
) -> None:
    """Plan buys, VM allocations, operator adjustments and pulls, spread over the load."""
    rng = random.Random(plan.seed + 1)
    begun = time.monotonic()
    buyers = [a for a in plan.accounts if a.plan_id]
    buys = []
    for account in buyers:
        request = secrets.token_hex(8)
        oracle.plan(account.address, account.plan_id or "")
        buys += [
            (
                "buy_plan",
                {"request_id": request, "address": account.address, "plan_id": account.plan_id},
            )
        ] * rng.randint(1, 2)
    rng.shuffle(buys)
    stack.send(buys)
    vms = []
    for account in buyers:
        for _ in range(rng.randint(1, PLANS[account.plan_id or ""][1])):
            request = secrets.token_hex(8)
            oracle.vm(account.address, request)
            vms += [
                ("allocate_vm", {"request_id": request, "address": account.address})
            ] * rng.randint(1, 2)
    rng.shuffle(vms)

    def allocations() -> None:
        # A VM is asked for once its plan is bought (before, it would be refused).
        time.sleep(plan.size.load_s * 0.4)
        deadline = time.monotonic() + plan.size.load_s * 3
        while not _bought(stack, len(buyers)):
            if time.monotonic() > deadline:
                errors.append("plan buys were not all carried out: no VMs asked for")
                for account in buyers:
                    oracle.books[account.address].vm_requests.clear()
                return
            time.sleep(1)
        stack.send(vms)

    def pulls() -> None:
        while not stop.wait(20):
            stack.send([("pull_all", {})])

    helpers = [threading.Thread(target=t, daemon=True) for t in (allocations, pulls)]
    for helper in helpers:
        helper.start()
    every = plan.size.load_s * 0.8 / max(1, len(plan.adjustments))
    for n, (address, by) in enumerate(plan.adjustments):
        time.sleep(max(0.0, begun + every * n - time.monotonic()))
        done = stack.admin(
            "balance", "adjust", address, "--by", str(by), "--reason", "chaos run adjustment"
        )
        if done.returncode != 0:
            errors.append(f"balance adjust: {done.stdout}{done.stderr}")
        else:
            oracle.adjustment(address, by)
    helpers[0].join()


def _bought(stack: ChaosStack, buyers: int) -> bool:
    return (
        count(
            stack.db_url,
            "SELECT count(*) FROM action_request WHERE outcome = 'ok' AND kind = 'buy_plan'",
        )
        >= buyers
    )


def run(seed: int, size: Size, run_dir: Path, mutation: str | None = None) -> int:
    print(f"chaos: seed {seed} (replay with CHAOS_SEED={seed})", flush=True)
    began = time.monotonic()
    stack = ChaosStack(run_dir, workers=size.workers, nodes=size.nodes)
    try:
        stack.start()
        if mutation:
            mutate(stack.db_url, mutation)
        stack.start_services()
        stack.start_nodes()
        stack.supervise()
        start = dt.datetime.now(dt.UTC).replace(microsecond=0)
        plan = draw(seed, size, start)
        oracle = Oracle()
        stack.send([("ensure_account", {"address": a.address}) for a in plan.accounts])
        wait(
            "accounts",
            lambda: count(stack.db_url, "SELECT count(*) FROM account") >= len(plan.accounts),
            120,
        )
        load.founding_payments(stack, plan, oracle)
        founded = sum(a.tenure_h is not None for a in plan.accounts)
        wait(
            "founding payments",
            lambda: (
                count(
                    stack.db_url,
                    "SELECT count(*) FROM ledger_entry WHERE ref LIKE 'stripe:pi_found%'",
                )
                >= founded
            ),
            120,
        )
        slots = sum(PLANS[a.plan_id][1] for a in plan.accounts if a.plan_id) + 5
        pooled = stack.admin("pool", "add", *[f"vm-{i}" for i in range(slots)])
        if pooled.returncode != 0:
            raise RuntimeError(f"pool add: {pooled.stdout}{pooled.stderr}")
        credit_settings = credit.draw(plan)
        credit.apply_settings(stack, credit_settings, oracle)
        # The load and the faults, together.
        stop = threading.Event()
        counters = {"records": 0, "webhooks": 0, "webhook_retries": 0}
        gates = {name: load.Gate() for name in stack.agents}
        log = faults.FaultLog()
        rng = random.Random(seed + 2)
        injector = faults.Injector(
            stack, gates, log, rng, lambda: counters["records"] / max(1, size.records), stop
        )
        fault_threads = injector.start(
            faults.schedule(rng, stack, kills=size.kills, cuts=size.cuts, slows=size.slows)
        )
        errors: list[str] = []
        threads = load.run_usage(stack, plan, oracle, gates, stop, counters) + load.run_webhooks(
            stack, plan, oracle, stop, counters
        )
        ops = threading.Thread(
            target=operations, args=(stack, plan, oracle, stop, errors), daemon=True
        )
        ops.start()
        for thread in [*threads, ops, *fault_threads]:
            thread.join(timeout=max(1.0, size.load_s * 4 - (time.monotonic() - began)))
        stop.set()
        errors += [repr(e) for e in load.FAILURES] + log.errors
        if any(t.is_alive() for t in threads):
            errors.append("the load did not finish in time")
        load_end = injector.now()
        drained = drain(stack, oracle)
        print(f"chaos: {drained.summary()}", flush=True)
        errors += drained.problems
        settled_at = injector.now()
        drained_s = (settled_at - log.last_end_s, settled_at - load_end)
        errors += credit.close(stack, credit_settings, oracle)
        caused = [f.alert for f in log.faults if f.alert]
        verdict = check.compare(stack.db_url, oracle, caused)
        verdict.credit, held = credit.check(stack.direct_env["HERO_NATS_URL"], stack.bucket, oracle)
        verdict.checks.append(("credit states at the hosts", held))
        audit = stack.admin("audit")
        verdict.checks.append(("hero-admin audit", "ok" if audit.returncode == 0 else "FAILED"))
        if audit.returncode != 0:
            verdict.other.append(f"audit: {audit.stdout[-1000:]}")
        verdict.other += errors
        print(
            render(
                seed,
                log,
                verdict,
                drained_s,
                drained.summary(),
                counters,
                len(plan.payments),
                time.monotonic() - began,
                stack.self_exits,
            ),
            flush=True,
        )
        return 0 if verdict.ok else 1
    finally:
        stack.close()


def main() -> int:
    seed = int(os.environ.get("CHAOS_SEED") or secrets.randbelow(10**9))
    size = SHORT if os.environ.get("CHAOS_SIZE") == "short" else FULL
    run_dir = Path(tempfile.mkdtemp(prefix="hero-chaos-"))
    try:
        code = run(seed, size, run_dir, os.environ.get("CHAOS_MUTATE") or None)
    except BaseException:
        print(f"chaos: logs kept in {run_dir}", file=sys.stderr)
        raise
    if code == 0 and not os.environ.get("CHAOS_KEEP"):
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        print(f"chaos: logs kept in {run_dir}", file=sys.stderr)
    return code
