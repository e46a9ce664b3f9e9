"""The whole usage pipeline on real services: three node agents journal 10,000 records,
publish them over NATS and push them to a git smart-HTTP Forge; the bridge and the
aggregator hand them to workers; every record is charged once, and every balance equals
an oracle computed here from the inputs and the ladder table."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
from collections import defaultdict
from pathlib import Path

import nacl.signing
import requests

from actors.ledger import audit_mismatches
from models import Account, Billing, LedgerEntry, Node, UsageRecord
from tests.support.git_http import git_http_server
from tests.support.nats_helpers import NATS_URL, TestStream
from tests.support.node_stack import stream  # noqa: F401 - a fixture
from tests.support.procs import BIN, HeroProcess, hero_admin, wait_until
from tests.support.services import free_port
from tests.support.stack import Stack

#: The ladder, written out independently of actors.ladder: (min days, quarters) for the
#: discounted categories; vm is always 4 quarters (x1).
LADDER = [(30, 1), (7, 2), (0, 4)]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
USERS = {  # address -> paid tenure in days (None: never paid)
    "520:c662:fd00:9e92:5d99:34ed:ab8:82ab": 3,
    "52d:dc0:ab0c:851a:6e34:e79d:1f3f:15d3": 8,
    "415:490:71ed:9131:49a8:d3b:b789:1fcd": 31,
    "41f:9a01:3c22:7e10:aa55:1234:5678:9abc": None,
    "5a0:1:2:3:4:5:6:7": 6.9,
}
NODES = ("node-a", "node-b", "node-c")  # node-c reports through git only
#: The bearer token every node agent's intake asks for.
INTAKE_TOKEN = "intake-token-of-the-pipeline-test"


def quarters(record: dict, first_paid: dt.datetime | None) -> int:
    if record["applies_to"] == "vm" or first_paid is None:
        return 4 * record["amount_cents"]
    tenure = dt.datetime.fromisoformat(record["occurred_at"].replace("Z", "+00:00")) - first_paid
    for days, q in LADDER:
        if tenure >= dt.timedelta(days=days):
            return q * record["amount_cents"]
    return 4 * record["amount_cents"]


def make_records(count: int, rng: random.Random) -> list[dict]:
    out = []
    for _ in range(count):
        category = rng.choice(["vm", "llm", "hero_os_hourly"])
        at = NOW - dt.timedelta(seconds=rng.randrange(60, 9 * 24 * 3600))
        out.append(
            {
                "node": rng.choice(NODES),
                "user": rng.choice(list(USERS)),
                "resource_kind": {
                    "vm": "vm_hour",
                    "llm": "llm_token",
                    "hero_os_hourly": "hero_os_hour",
                }[category],
                "applies_to": category,
                "quantity": rng.randrange(1, 5000),
                "amount_cents": rng.randrange(0, 21),
                "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    return out


def test_ten_thousand_records_by_nats_and_git_are_charged_once_to_the_oracle(
    pg_stack: Stack, stream: TestStream, tmp_path: Path
) -> None:
    stack = pg_stack
    rng = random.Random(20261121)
    # Given accounts at every tenure, with the payments that explain their first_paid_at
    first_paid: dict[str, dt.datetime | None] = {}
    for address, days in USERS.items():
        account = Account.create(address=address)
        paid = None if days is None else NOW - dt.timedelta(days=days)
        Billing.create(
            account=account,
            balance_cents=50_000 if paid else 0,
            first_paid_at=paid,
            lifetime_paid_cents=50_000 if paid else 0,
        )
        if paid:
            LedgerEntry.create(
                account=account,
                amount_cents=50_000,
                kind="payment",
                ref=f"seed:{address}",
                balance_after_cents=50_000,
            )
        first_paid[address] = paid
    nats_env = {
        "HERO_NATS_URL": NATS_URL,
        "HERO_NATS_STREAM": stream.name,
        "HERO_NATS_SUBJECT_PREFIX": stream.prefix,
    }
    stack.worker("worker-1")
    stack.worker("worker-2")
    bridge = HeroProcess("bridge", {**stack.env, **nats_env}, stack.log_dir).start()
    stack.processes.append(bridge)
    bridge.wait_for_log("bridge.started")

    with git_http_server(tmp_path / "forge") as forge:
        agents = {}
        for name in NODES:
            key = nacl.signing.SigningKey.generate()
            key_path = tmp_path / f"{name}.key"
            key_path.write_text(key.encode().hex())
            url = forge.create_repo(name)
            Node.create(name=name, repo_url=url, pubkey_hex=key.verify_key.encode().hex())
            port = free_port()
            env = {
                **stack.env,
                "HERO_NODE_NAME": name,
                "HERO_NODE_KEY": str(key_path),
                "HERO_NODE_JOURNAL": str(tmp_path / f"{name}.journal.db"),
                "HERO_NODE_REPO": url,
                "HERO_NODE_REPO_USER": "forge",
                "HERO_NODE_REPO_TOKEN": "s3cret",
                "HERO_NODE_INTAKE_ADDR": f"127.0.0.1:{port}",
                "HERO_NODE_INTAKE_TOKEN": INTAKE_TOKEN,
                "HERO_NODE_COMMIT_INTERVAL_S": "3600",
                **(nats_env if name != "node-c" else {}),
            }
            agent = HeroProcess("node", env, stack.log_dir, name=name)
            agent.proc = subprocess.Popen(
                [str(BIN / "hero-node"), "serve"],
                env=env,
                stdout=open(agent.log_path, "ab"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            stack.processes.append(agent)
            agent.wait_http(f"http://127.0.0.1:{port}/healthz")
            agents[name] = (agent, env, f"http://127.0.0.1:{port}")

        # When 10,000 records arrive in shuffled order, in two waves
        records = make_records(10_000, rng)
        keyed: list[dict] = []
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {INTAKE_TOKEN}"
        admin_env = {
            **stack.admin_env(),
            "HERO_FORGE_USER": "forge",
            "HERO_FORGE_TOKEN": "s3cret",
            "HERO_MIRROR_DIR": str(tmp_path / "mirrors"),
        }
        for wave in (records[:7000], records[7000:]):
            for record in wave:
                answer = http.post(
                    f"{agents[record['node']][2]}/usage",
                    timeout=30,
                    json={k: v for k, v in record.items() if k != "node"},
                )
                assert answer.status_code == 201, answer.text
                keyed.append({**record, "key": answer.json()["key"]})
            for _name, (_, env, _) in agents.items():
                flushed = subprocess.run(
                    [str(BIN / "hero-node"), "flush"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert flushed.returncode == 0, flushed.stdout + flushed.stderr
            pulled = hero_admin("aggregate", "--json", env=admin_env, timeout=300)
            assert pulled.returncode == 0, pulled.stdout + pulled.stderr

        # and git delivers everything a second time (node-a's cursor forgotten)
        Node.update(cursor_commit=None).where(Node.name == "node-a").execute()
        again = hero_admin("aggregate", "node-a", "--json", env=admin_env, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr

    # Then every record is charged once, and every balance is the oracle's
    wait_until(
        lambda: UsageRecord.select().count() == 10_000,
        timeout=180,
        interval=0.5,
        what="all 10,000 records",
    )
    owed: dict[str, int] = defaultdict(int)
    for record in keyed:
        owed[record["user"]] += quarters(record, first_paid[record["user"]])
    expected = {a: (50_000 if first_paid[a] else 0) - owed[a] // 4 for a in USERS}

    def balances() -> dict[str, int]:
        return {b.account.address: b.balance_cents for b in Billing.select()}

    wait_until(
        lambda: balances() == expected, timeout=120, interval=0.5, what=f"balances {expected}"
    )
    assert {r.key for r in UsageRecord.select(UsageRecord.key)} == {r["key"] for r in keyed}
    assert all(b.usage_carry == owed[b.account.address] % 4 for b in Billing.select())
    assert not audit_mismatches()
    via = {r.via for r in UsageRecord.select(UsageRecord.via).distinct()}
    assert via == {"nats", "git"}
    assert (
        UsageRecord.select()
        .where(UsageRecord.node == "node-c", UsageRecord.seen_nats_at.is_null(False))
        .count()
        == 0
    )
