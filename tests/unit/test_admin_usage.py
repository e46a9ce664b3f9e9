"""hero-admin's usage commands: node locations refused on registration, reconcile's bounds
and its answer when the NATS path is off."""

from __future__ import annotations

import argparse
import datetime as dt
import io

import pytest
from rich.console import Console

from actors.admin import handle, make_envelope
from cli import admin_usage
from cli.admin import main
from models import Node, UsageRecord
from settings import Settings
from tests.support.admin import OPERATOR, OPERATOR_PUBKEY
from tests.support.deps import DepsSwitch

NOW = 1_790_000_000.0


@pytest.fixture(autouse=True)
def operator_keys(deps: DepsSwitch) -> None:
    deps.set(operator_pubkeys=(OPERATOR_PUBKEY,))


@pytest.mark.parametrize(
    ("repo", "reason"),
    [
        ("ext::sh -c touch% pwned", "transport helper"),
        ("ssh://-oProxyCommand=touch%20pwned/x", "scheme 'ssh' refused"),
        ("file:///srv/forge/node-a.git", "scheme 'file' refused"),
        ("forge.example:node-a.git", "neither an http(s) URL"),
        ("http://bad_host!/x", "not a valid host name"),
    ],
)
def test_node_add_refuses_a_location_no_fetch_may_use(
    sqlite_db: str, repo: str, reason: str
) -> None:
    envelope = make_envelope(
        "node_add",
        {"name": "node-a", "repo": repo, "pubkey": OPERATOR_PUBKEY},
        signing_key=OPERATOR,
        now=NOW,
    )
    outcome = handle(envelope, now=NOW)
    assert outcome["outcome"] == "refused"
    assert outcome["reason"].startswith("repo: ") and reason in outcome["reason"]
    assert Node.select().count() == 0


@pytest.mark.parametrize("repo", ["ext::sh -c id", "-oProxyCommand=id", "ssh://h/x"])
def test_the_cli_refuses_a_bad_location_before_sending(
    repo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["node", "add", "node-a", "--repo", repo, "--pubkey", OPERATOR_PUBKEY])
    assert exited.value.code == 2
    assert "argument --repo: " in capsys.readouterr().err


@pytest.mark.parametrize(("grace", "problem"), [("-5", "must be 0 to"), ("soon", "not a whole")])
def test_reconcile_refuses_a_bad_grace(
    grace: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reconcile", "--grace-minutes", grace])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --grace-minutes: " in err and problem in err


def run_reconcile(settings: Settings) -> tuple[int, str]:
    out = io.StringIO()
    args = argparse.Namespace(grace_minutes=0, json=False)
    code = admin_usage.reconcile(args, settings, Console(file=out, width=200))
    return code, out.getvalue()


def git_record(sqlite_db: str) -> None:
    UsageRecord.create(
        key="node-a:1",
        node="node-a",
        address="520::1",
        resource_kind="vm_hour",
        applies_to="vm",
        quantity=1,
        amount_cents=1,
        occurred_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        multiplier_quarters=4,
        charge_quarters=4,
        status="applied",
        via="git",
        seen_git_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def test_reconcile_without_nats_compares_nothing(sqlite_db: str) -> None:
    git_record(sqlite_db)
    code, out = run_reconcile(Settings())
    assert code == 0
    assert "NATS path is off" in out and "node-a:1" not in out


def test_reconcile_with_nats_flags_a_git_record_never_seen_there(sqlite_db: str) -> None:
    git_record(sqlite_db)
    code, out = run_reconcile(Settings(nats_url="nats://127.0.0.1:4222"))
    assert code == 1
    assert "git_not_in_nats: 1 (node-a:1)" in out


def test_reconcile_rows_refuses_a_negative_grace() -> None:
    with pytest.raises(ValueError, match="grace_minutes: must be 0 or more"):
        admin_usage.reconcile_rows(-1)
