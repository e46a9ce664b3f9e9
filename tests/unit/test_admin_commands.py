"""hero-admin's commands: every argument explained, careless values refused, one line per
change (JSON with --json), and not-found said as such."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from cli.admin import make_parser
from models import UnmatchedItem, VmPoolSlot
from tests.support.admin import ADDRESS, admin_env, run  # noqa: F401 - admin_env is a fixture


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
