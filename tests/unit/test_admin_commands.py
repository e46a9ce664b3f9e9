"""hero-admin's commands: every argument explained, careless values refused, one line per
change (JSON with --json), and not-found said as such."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from cli.admin import make_parser
from messages import Message
from models import AdminAudit, Alert, UnmatchedItem, VmPoolSlot
from tests.support.admin import (  # noqa: F401 - admin_env is a fixture
    ADDRESS,
    OPERATOR_PUBKEY,
    admin_env,
    no_worker,
    run,
)


def undocumented(parser: argparse.ArgumentParser) -> Iterator[str]:
    """Every argument and sub-command of *parser*, at any depth, that has no help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest for choice in action._choices_actions if choice.help}
            for name, child in action.choices.items():
                if name not in helped:
                    yield f"{parser.prog} {name}"
                yield from undocumented(child)
        elif not action.help:
            yield f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"


def test_every_argument_of_every_command_has_help() -> None:
    assert list(undocumented(make_parser())) == []


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_payments_list_refuses_a_limit_that_is_not_positive(
    limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        make_parser().parse_args(["payments", "list", "--limit", limit])
    assert exited.value.code == 2
    assert "argument --limit: " in capsys.readouterr().err


@pytest.mark.parametrize("email", ["[/]x@y.zz", "a@b", "x\x1b@y.zz", "[link=x]a@b.cd"])
def test_user_add_refuses_an_email_the_web_would_refuse(
    email: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        make_parser().parse_args(["user", "add", ADDRESS, "--email", email])
    assert exited.value.code == 2
    assert "argument --email: " in capsys.readouterr().err


def test_user_add_prints_one_human_line_or_its_json(admin_env: None) -> None:
    assert run("user", "add", ADDRESS, "--email", "Ann@Example.COM") == (
        0,
        f"created the account {ADDRESS}\n",
    )
    code, out = run("user", "add", ADDRESS, "--json")
    assert code == 0
    assert json.loads(out) | {"outcome": "applied"} == json.loads(out)
    assert json.loads(out)["created"] is False
    assert json.loads(run("user", "show", ADDRESS, "--json")[1])["email"] == "Ann@example.com"


def test_unmatched_retry_of_an_unknown_id_says_not_found(admin_env: None) -> None:
    code, out = run("unmatched", "retry", "4242")
    assert code == 1
    assert "no parked item with id 4242" in out
    assert run("unmatched", "retry") == (0, "no open parked items to retry\n")


def test_unmatched_retry_of_a_resolved_item_says_so(admin_env: None) -> None:
    item = UnmatchedItem.create(
        source="payment", ref="pi_1", address=ADDRESS, reason="no account", payload="{}"
    )
    UnmatchedItem.update(resolved_at=item.created_at).execute()
    assert run("unmatched", "retry", str(item.id)) == (
        0,
        f"retried 1 parked items: {item.id} already resolved\n",
    )


def test_pool_add_refuses_a_new_address_for_a_known_vm_unless_updated(admin_env: None) -> None:
    assert run("pool", "add", "vm-1", "--address", "10.0.0.1") == (
        0,
        "added 1 VMs to the pool\n",
    )
    code, out = run("pool", "add", "vm-1", "--address", "10.0.0.2")
    assert code == 1
    assert "already in the pool with address 10.0.0.1" in out and "--update" in out
    assert VmPoolSlot.get().address == "10.0.0.1"

    assert run("pool", "add", "vm-1", "--address", "10.0.0.2", "--update") == (
        0,
        "added 0 VMs to the pool, updated the address of vm-1\n",
    )
    assert VmPoolSlot.get().address == "10.0.0.2"
    assert run("pool", "add", "vm-1") == (0, "added 0 VMs to the pool, 1 already there unchanged\n")


def test_node_add_refuses_a_name_with_a_trailing_newline(admin_env: None) -> None:
    code, out = run("node", "add", "node-a\n", "--repo", "/srv/x.git", "--pubkey", "ab" * 32)
    assert code == 1
    assert "is not a node name" in out and "\\n" in out


def test_alerts_resolve_resolves_each_alert_signed_and_audited(admin_env: None) -> None:
    first, second = (Alert.create(kind="usage_gap", message=f"gap {n}") for n in (1, 2))
    assert run("alerts", "resolve", str(first.id), str(second.id), "--reason", "looked") == (
        0,
        f"resolved alert {first.id}\nresolved alert {second.id}\n",
    )
    assert Alert.select().where(Alert.resolved_at.is_null()).count() == 0
    audits = list(AdminAudit.select().order_by(AdminAudit.id))
    assert [(a.action, a.outcome) for a in audits] == [("alert_resolve", "applied")] * 2
    assert {a.operator_pubkey for a in audits} == {OPERATOR_PUBKEY}
    assert json.loads(audits[0].args) == {"alert_id": first.id, "reason": "looked"}
    # listing still works without the verb
    assert run("alerts", "--all", "--json")[0] == 0


def test_alerts_resolve_says_already_resolved_and_refuses_an_unknown_id(admin_env: None) -> None:
    alert = Alert.create(kind="usage_gap", message="gap")
    assert run("alerts", "resolve", str(alert.id), "--reason", "x")[0] == 0
    code, out = run("alerts", "resolve", str(alert.id), "4242", "--reason", "x")
    assert code == 1
    assert out.splitlines() == [
        f"was already resolved: alert {alert.id}",
        "refused: alert_id: no alert 4242; see `hero-admin alerts --all`",
    ]
    code, out = run("alerts", "resolve", "4242", str(alert.id), "--reason", "x", "--json")
    assert code == 1
    assert [(r["alert_id"], r["outcome"]) for r in json.loads(out)] == [
        (4242, "refused"),
        (alert.id, "applied"),
    ]
    assert [r.get("resolved") for r in json.loads(out)] == [None, False]


@pytest.mark.parametrize("argv", [["0"], ["x"], [], ["1", "--reason"]])
def test_alerts_resolve_refuses_a_bad_id_or_no_reason(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        make_parser().parse_args(["alerts", "resolve", *argv])
    assert exited.value.code == 2
    assert "hero-admin alerts resolve: error:" in capsys.readouterr().err


def test_alerts_resolve_with_no_worker_says_what_to_do_and_sends_no_more(
    no_worker: list[Message],
) -> None:
    alert = Alert.create(kind="usage_gap", message="gap")
    code, out = run("alerts", "resolve", str(alert.id), "7", "8", "--reason", "x")
    assert code == 3
    assert out.splitlines() == [
        f"alert {alert.id}: sent, but no worker handled it within 0 s; check that "
        "`hero-onboarding worker` runs, then `hero-admin alerts --all`",
        "not sent: 7, 8",
    ]
    assert len(no_worker) == 1 and Alert.get().resolved_at is None
    code, out = run("alerts", "resolve", str(alert.id), "7", "--reason", "x", "--json")
    assert code == 3
    assert [(r["alert_id"], r["outcome"]) for r in json.loads(out)] == [
        (alert.id, "timeout"),
        (7, "not_sent"),
    ]


@pytest.mark.parametrize(
    ("argv", "then"),
    [
        (
            ["kyc", "set", ADDRESS, "--status", "approved", "--reason", "seen"],
            f"`hero-admin kyc show {ADDRESS}`",
        ),
        (
            ["credit", "allow", ADDRESS, "--cents", "100", "--reason", "trusted"],
            "`hero-admin audit-log --action credit_allow`",
        ),
    ],
)
def test_kyc_set_and_credit_allow_with_no_worker_say_what_to_do(
    no_worker: list[Message], argv: list[str], then: str
) -> None:
    assert run(*argv) == (
        3,
        "sent, but no worker handled it within 0 s; check that `hero-onboarding worker` runs, "
        f"then {then}\n",
    )
    assert len(no_worker) == 1
    code, out = run(*argv, "--json")
    assert (code, json.loads(out)["outcome"]) == (3, "timeout")
