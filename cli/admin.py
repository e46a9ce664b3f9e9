"""``hero-admin``: the operator CLI. Reads go to the database; changes are signed messages."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import nacl.signing
from rich.console import Console

import actors
from actors.adjustments import adjustment_cents
from actors.admin import handle, make_envelope, stored_outcome
from cli import admin_usage, admin_views
from cli.admin_common import EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_USAGE, parse_address_arg
from cli.logs import configure_logging
from cli.runtime import wire_actors
from models import Account, Billing
from models.errors import AdminRefused
from models.money import CONFIRM_ADJUSTMENT_CENTS, format_cents
from settings import ConfigError, Settings

#: How long a change sent to RabbitMQ is waited for, in seconds.
WAIT_S = 60.0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hero-admin", description="Operate hero_onboarding.")
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("keygen", help="make an operator Ed25519 key")
    keygen.add_argument("--out", required=True, help="file to write the private key to")

    user = sub.add_parser("user", help="accounts").add_subparsers(dest="verb", required=True)
    add = user.add_parser("add", help="create an account for an address")
    add.add_argument("address")
    add.add_argument("--email")
    _with_json(user.add_parser("list", help="list accounts"))
    show = _with_json(user.add_parser("show", help="one account in detail"))
    show.add_argument("address")

    balance = sub.add_parser("balance").add_subparsers(dest="verb", required=True)
    adjust = balance.add_parser("adjust", help="change a balance, with a reason (audited)")
    adjust.add_argument("address")
    amount = adjust.add_mutually_exclusive_group(required=True)
    amount.add_argument("--to", type=int, metavar="CENTS", help="set the balance to CENTS")
    amount.add_argument("--by", type=int, metavar="CENTS", help="change the balance by CENTS")
    adjust.add_argument("--reason", required=True)
    adjust.add_argument(
        "--yes",
        action="store_true",
        help=f"do not ask to confirm a change over {format_cents(CONFIRM_ADJUSTMENT_CENTS)}",
    )

    payments = sub.add_parser("payments").add_subparsers(dest="verb", required=True)
    plist = _with_json(payments.add_parser("list", help="payments and refunds received"))
    plist.add_argument("--address")
    plist.add_argument("--limit", type=int, default=100)

    unmatched = sub.add_parser("unmatched").add_subparsers(dest="verb", required=True)
    ulist = _with_json(unmatched.add_parser("list", help="parked items for unknown accounts"))
    ulist.add_argument("--all", action="store_true", help="include resolved items")
    retry = unmatched.add_parser("retry", help="apply parked items whose account now exists")
    retry.add_argument("ids", nargs="*", type=int, help="item ids (default: all open items)")

    _with_json(sub.add_parser("audit", help="check every balance against its ledger"))
    admin_usage.add_parsers(sub, _with_json)
    return parser


def _with_json(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None, *, out: Any = None) -> int:
    args = make_parser().parse_args(argv)
    console = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)
    if args.command == "keygen":
        return _keygen(args.out, console)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"hero-admin: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(json_lines=True if settings.log_json is None else settings.log_json)
    wire_actors(settings)
    command = f"{args.command} {getattr(args, 'verb', '')}".strip()
    handler = COMMANDS[command]
    return handler(args, settings, console)


def _keygen(path: str, console: Console) -> int:
    if os.path.exists(path):
        print(f"hero-admin: {path} exists; choose another --out", file=sys.stderr)
        return EXIT_USAGE
    key = nacl.signing.SigningKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.encode().hex() + "\n")
    console.print(f"wrote private key to {path}; add the public key to HERO_OPERATOR_PUBKEYS:")
    console.print(key.verify_key.encode().hex())
    return EXIT_OK


def load_signing_key(path: str | None) -> nacl.signing.SigningKey | None:
    """The operator key from *path* (hex seed), or None when no key is configured.

    Raises:
        SystemExit: the file cannot be read or holds no key.
    """
    if not path:
        return None
    try:
        with open(path) as fh:
            return nacl.signing.SigningKey(bytes.fromhex(fh.read().strip()))
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"hero-admin: HERO_OPERATOR_KEY: cannot read a key from {path}: {exc}"
        ) from None


def submit(
    action: str,
    args: dict[str, Any],
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """Sign and carry out an operator action; None when no worker answered in time."""
    envelope = make_envelope(action, args, signing_key=load_signing_key(settings.operator_key))
    if actors.is_in_process():
        return handle(envelope)
    actors.send("admin_command", envelope=envelope)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        outcome = stored_outcome(envelope["nonce"])
        if outcome is not None:
            return outcome
        sleep(0.2)
    return None


def _report(outcome: dict[str, Any] | None, console: Console) -> int:
    if outcome is None:
        console.print(
            f"sent, but no worker handled it within {WAIT_S:.0f} s; "
            "check that `hero-onboarding worker` runs, then `hero-admin audit`"
        )
        return EXIT_TIMEOUT
    if outcome.get("outcome") != "applied":
        console.print(f"refused: {outcome.get('reason')}")
        return EXIT_REFUSED
    console.print(json.dumps({k: v for k, v in outcome.items() if k != "reason"}, sort_keys=True))
    return EXIT_OK


def _user_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    return _report(
        submit(
            "user_add", {"address": parse_address_arg(args.address), "email": args.email}, settings
        ),
        console,
    )


def _balance_adjust(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {
        "address": parse_address_arg(args.address),
        "to_cents": args.to,
        "by_cents": args.by,
        "reason": args.reason,
    }
    change = _adjustment_change(payload)
    if change is not None and abs(change) > CONFIRM_ADJUSTMENT_CENTS and not args.yes:
        question = (
            f"Change the balance of {payload['address']} by {format_cents(change)} "
            f"(more than {format_cents(CONFIRM_ADJUSTMENT_CENTS)})?"
        )
        if not sys.stdin.isatty():
            print(
                f"hero-admin: {question} There is no terminal to ask on: pass --yes "
                "to confirm; nothing was sent",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if input(f"{question} Type yes to go on: ").strip().lower() not in ("y", "yes"):
            console.print("not confirmed; nothing was sent")
            return EXIT_REFUSED
    return _report(submit("balance_adjust", payload, settings), console)


def _adjustment_change(payload: dict[str, Any]) -> int | None:
    """The change *payload* asks for against the balance now, or None when the actor will
    refuse it anyway (out of bounds, or no such account), which it then audits."""
    billing = Billing.select().join(Account).where(Account.address == payload["address"]).first()
    if billing is None:
        return None
    try:
        return adjustment_cents(payload, balance_cents=int(billing.balance_cents))
    except AdminRefused:
        return None


def _unmatched_retry(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    return _report(submit("unmatched_retry", {"item_ids": args.ids}, settings), console)


def _node_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {"name": args.name, "repo": args.repo, "pubkey": args.pubkey}
    return _report(submit("node_add", payload, settings), console)


def _pool_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {"vm_ids": args.vm_ids, "address": args.address}
    return _report(submit("pool_add", payload, settings), console)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "pool add": _pool_add,
    "pool list": admin_views.pool_list,
    "node add": _node_add,
    "node list": admin_views.node_list,
    "aggregate": admin_usage.aggregate,
    "alerts": admin_views.alerts,
    "reconcile": admin_views.reconcile,
    "user add": _user_add,
    "user list": admin_views.user_list,
    "user show": admin_views.user_show,
    "balance adjust": _balance_adjust,
    "payments list": admin_views.payments_list,
    "unmatched list": admin_views.unmatched_list,
    "unmatched retry": _unmatched_retry,
    "audit": admin_views.audit,
}


def run() -> None:
    sys.exit(main())
