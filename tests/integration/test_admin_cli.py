"""hero-admin against the real stack: unmatched payments, audit, signed adjustments."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nacl.signing
import pytest

from models import Account, AdminAudit, Billing, LedgerEntry, db
from models.money import CONFIRM_ADJUSTMENT_CENTS
from tests.support.procs import BIN, hero_admin, hero_env, wait_until
from tests.support.stack import (
    ADDRESS,
    PROCESSED,
    STRIPE_SECRET,
    Stack,
    balance,
    make_account,
    post,
)
from tests.support.stripe_events import checkout_completed, signed

STRANGER = "41f:9a01:3c22:7e10:aa55:1234:5678:9abc"


def test_unknown_account_is_parked_listed_and_applied_once_when_it_exists(stack: Stack) -> None:
    # Given a payment for an address nobody has an account for
    url = stack.gateway()
    worker = stack.worker()
    body, headers = signed(checkout_completed(address=STRANGER, amount_cents=4200), STRIPE_SECRET)
    assert post(url, body, headers).status_code == 200
    worker.wait_lines(*PROCESSED, count=1)

    # Then it is parked and listed for operators
    listed = hero_admin("unmatched", "list", "--json", env=stack.admin_env())
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert [i["address"] for i in items] == [STRANGER]
    assert "no account" in items[0]["reason"]
    assert hero_admin("unmatched", "retry", env=stack.admin_env()).returncode == 0
    assert Account.select().count() == 0

    # When the account exists and an operator retries (twice)
    added = hero_admin("user", "add", STRANGER, env=stack.admin_env())
    assert added.returncode == 0, added.stdout + added.stderr
    for _ in range(2):
        retried = hero_admin("unmatched", "retry", env=stack.admin_env())
        assert retried.returncode == 0, retried.stdout + retried.stderr

    # Then it is credited once and no longer listed
    assert balance(STRANGER) == 4200
    assert LedgerEntry.select().count() == 1
    assert json.loads(hero_admin("unmatched", "list", "--json", env=stack.admin_env()).stdout) == []
    shown = json.loads(hero_admin("user", "show", STRANGER, "--json", env=stack.admin_env()).stdout)
    assert shown["balance_cents"] == 4200 and shown["lifetime_paid_cents"] == 4200
    assert shown["first_paid_at"] is not None and shown["overdrawn"] is False


def test_audit_passes_on_the_ledger_and_fails_after_a_change_behind_its_back(
    stack: Stack,
) -> None:
    make_account()
    url = stack.gateway()
    worker = stack.worker()
    assert (
        post(
            url, *signed(checkout_completed(address=ADDRESS, amount_cents=900), STRIPE_SECRET)
        ).status_code
        == 200
    )
    worker.wait_lines(*PROCESSED, count=1)
    adjusted = hero_admin(
        "balance", "adjust", ADDRESS, "--by", "-150", "--reason", "goodwill", env=stack.admin_env()
    )
    assert adjusted.returncode == 0, adjusted.stdout + adjusted.stderr

    ok = hero_admin("audit", "--json", env=stack.admin_env())
    assert ok.returncode == 0, ok.stdout
    assert json.loads(ok.stdout)["ok"] is True

    db.execute_sql("UPDATE billing SET balance_cents = balance_cents + 1")
    broken = hero_admin("audit", "--json", env=stack.admin_env())
    assert broken.returncode == 1
    mismatch = json.loads(broken.stdout)["mismatches"][0]
    assert (mismatch["balance_cents"], mismatch["ledger_sum_cents"]) == (751, 750)


def test_balance_adjust_without_a_key_or_with_an_unknown_key_is_refused_and_audited(
    stack: Stack,
    tmp_path,
) -> None:
    make_account()
    stack.worker()
    stranger_key = tmp_path / "stranger.key"
    stranger_key.write_text(nacl.signing.SigningKey.generate().encode().hex())

    unsigned = hero_admin(
        "balance",
        "adjust",
        ADDRESS,
        "--to",
        "100000",
        "--reason",
        "free money",
        "--yes",
        env=stack.admin_env(with_key=False),
    )
    foreign = hero_admin(
        "balance",
        "adjust",
        ADDRESS,
        "--by",
        "100000",
        "--reason",
        "free money",
        "--yes",
        env={**stack.admin_env(), "HERO_OPERATOR_KEY": str(stranger_key)},
    )

    assert unsigned.returncode == 1 and "unsigned" in unsigned.stdout
    assert foreign.returncode == 1 and "not in HERO_OPERATOR_PUBKEYS" in foreign.stdout
    assert Billing.get().balance_cents == 0
    refusals = list(AdminAudit.select().where(AdminAudit.outcome == "refused"))
    assert len(refusals) == 2
    assert {r.action for r in refusals} == {"balance_adjust"}

    allowed = hero_admin(
        "balance", "adjust", ADDRESS, "--to", "500", "--reason", "promo", env=stack.admin_env()
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert Billing.get().balance_cents == 500
    entry = LedgerEntry.get()
    assert entry.kind == "adjustment" and json.loads(entry.details)["reason"] == "promo"


def test_nodes_are_registered_aggregated_and_their_alerts_listed_through_the_cli(
    stack: Stack, tmp_path
) -> None:
    import datetime as dt

    from models import UsageRecord
    from tests.support.git_http import git_http_server
    from tests.support.node_repo import NodeRepo
    from wire.otoml import UsageIn

    make_account()
    stack.worker()
    hour = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
    env = {
        **stack.admin_env(),
        "HERO_FORGE_USER": "forge",
        "HERO_FORGE_TOKEN": "s3cret",
        "HERO_MIRROR_DIR": str(tmp_path / "mirrors"),
    }
    with git_http_server(tmp_path / "forge") as forge:
        url = forge.create_repo("node-a")
        repo = NodeRepo(tmp_path / "work", url.replace("http://", "http://forge:s3cret@"), "node-a")
        added = hero_admin("node", "add", "node-a", "--repo", url, "--pubkey", repo.pubkey, env=env)
        assert added.returncode == 0, added.stdout + added.stderr
        records = [
            UsageIn(
                key=f"node-a:{i}",
                node="node-a",
                user=ADDRESS,
                resource_kind="vm_hour",
                applies_to="vm",
                quantity=1,
                amount_cents=5,
                occurred_at=hour + dt.timedelta(minutes=i),
            )
            for i in range(3)
        ]
        repo.write_batch(hour, records)
        repo.write_batch(hour + dt.timedelta(hours=1), [], signature="00" * 64)
        repo.commit()
        repo.push()

        pulled = hero_admin("aggregate", env=env)

    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "3 records handed over, 1 quarantined" in pulled.stdout
    wait_until(lambda: UsageRecord.select().count() == 3, what="the records to be charged")
    assert balance() == -15
    nodes = json.loads(hero_admin("node", "list", "--json", env=env).stdout)
    assert [(n["name"], n["cursor"] is not None) for n in nodes] == [("node-a", True)]
    alerts = json.loads(hero_admin("alerts", "--json", env=env).stdout)
    assert [a["kind"] for a in alerts] == ["quarantine"]
    assert "bad signature" in alerts[0]["message"]


def adjust(env: dict[str, str], *amount: str) -> subprocess.CompletedProcess[str]:
    return hero_admin("balance", "adjust", ADDRESS, *amount, "--reason", "bounds", env=env)


def test_adjustments_out_of_bounds_are_refused_naming_the_argument_and_audited(
    stack: Stack,
) -> None:
    make_account()
    stack.worker()
    env = stack.admin_env()

    huge_to = adjust(env, "--to", str(10**23), "--yes")
    huge_by = adjust(env, "--by", str(2**63 - 1), "--yes")
    one = adjust(env, "--by", "1")

    assert huge_to.returncode == 1 and "refused: to_cents: " in huge_to.stdout
    assert huge_by.returncode == 1 and "refused: by_cents: " in huge_by.stdout
    assert "Traceback" not in huge_to.stderr + huge_by.stderr
    assert one.returncode == 0, one.stdout + one.stderr
    assert Billing.get().balance_cents == 1
    refusals = AdminAudit.select().where(AdminAudit.outcome == "refused")
    assert sorted(r.reason.split(":")[0] for r in refusals) == ["by_cents", "to_cents"]
    audited = hero_admin("audit", "--json", env=env)
    assert audited.returncode == 0 and json.loads(audited.stdout)["ok"] is True


@pytest.fixture
def local_env(sqlite_db: str, tmp_path: Path) -> dict[str, str]:
    """hero-admin on a SQLite database with no broker: the actor runs in the CLI process."""
    key = nacl.signing.SigningKey.generate()
    (tmp_path / "operator.key").write_text(key.encode().hex())
    make_account()
    return hero_env(
        HERO_DATABASE_URL=sqlite_db,
        HERO_OPERATOR_KEY=str(tmp_path / "operator.key"),
        HERO_OPERATOR_PUBKEYS=key.verify_key.encode().hex(),
    )


def test_a_large_adjustment_without_a_terminal_or_yes_is_refused_and_sends_nothing(
    local_env: dict[str, str],
) -> None:
    over = str(CONFIRM_ADJUSTMENT_CENTS + 1)
    refused = adjust(local_env, "--by", over)
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr and "nothing was sent" in refused.stderr
    assert AdminAudit.select().count() == 0 and Billing.get().balance_cents == 0

    assert adjust(local_env, "--by", str(CONFIRM_ADJUSTMENT_CENTS)).returncode == 0
    assert adjust(local_env, "--to", "0", "--yes").returncode == 0
    assert adjust(local_env, "--by", over, "--yes").returncode == 0
    assert Billing.get().balance_cents == CONFIRM_ADJUSTMENT_CENTS + 1


def on_a_terminal(env: dict[str, str], answer: bytes, *argv: str) -> tuple[int, str]:
    """Run hero-admin with a pseudo-terminal as stdin, typing *answer* when it asks."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        [str(BIN / "hero-admin"), *argv],
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(follower)
    os.write(leader, answer)
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    return proc.returncode, out.decode()


@pytest.mark.parametrize(
    ("answer", "code", "balance_cents"), [(b"yes\n", 0, 60_000), (b"no\n", 1, 0)]
)
def test_a_large_adjustment_on_a_terminal_asks_and_does_what_the_answer_says(
    local_env: dict[str, str], answer: bytes, code: int, balance_cents: int
) -> None:
    argv = ("balance", "adjust", ADDRESS, "--to", "60000", "--reason", "refund by hand")
    returncode, out = on_a_terminal(local_env, answer, *argv)
    assert returncode == code, out
    assert "by $600.00" in out
    assert Billing.get().balance_cents == balance_cents
