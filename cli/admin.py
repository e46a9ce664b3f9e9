"""``hero-admin``: the operator CLI. Reads go to the database; changes are signed messages."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import nacl.signing
import peewee
from rich.console import Console

import actors
import messages
from actors.admin import handle
from cli import admin_credit, admin_kyc, admin_ledger, admin_usage, admin_views
from cli.admin_common import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    make_console,
    parse_address_arg,
    print_json,
    safe,
)
from cli.admin_results import describe_outcome, email_arg, positive_int
from cli.failures import describe_broker_failure
from models import Account, Billing, DatabaseUnavailable, check_database
from models.admin_commands import adjustment_cents, make_envelope, stored_outcome
from models.db import describe_failure
from models.errors import AdminRefused, BrokerUnavailable
from models.money import CONFIRM_ADJUSTMENT_CENTS, format_cents
from runtime.bootstrap import bootstrap
from settings import ConfigError, Settings
from wire.logs import configure_logging

#: How long a change sent to RabbitMQ is waited for, in seconds.
WAIT_S = 60.0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hero-admin", description="Operate hero_onboarding.")
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("keygen", help="make an operator Ed25519 key")
    keygen.add_argument("--out", required=True, help="file to write the private key to")

    user = sub.add_parser("user", help="accounts").add_subparsers(dest="verb", required=True)
    add = _with_json(user.add_parser("add", help="create an account for an address"))
    add.add_argument("address", help="the user's Mycelium address")
    add.add_argument("--email", type=email_arg, help="the user's email address")
    _with_json(user.add_parser("list", help="list accounts"))
    show = _with_json(user.add_parser("show", help="one account in detail"))
    show.add_argument("address", help="the user's Mycelium address")

    balance = sub.add_parser("balance", help="balances").add_subparsers(dest="verb", required=True)
    adjust = _with_json(
        balance.add_parser("adjust", help="change a balance, with a reason (audited)")
    )
    adjust.add_argument("address", help="the user's Mycelium address")
    amount = adjust.add_mutually_exclusive_group(required=True)
    amount.add_argument("--to", type=int, metavar="CENTS", help="set the balance to CENTS")
    amount.add_argument("--by", type=int, metavar="CENTS", help="change the balance by CENTS")
    adjust.add_argument("--reason", required=True, help="why (kept in the audit and ledger)")
    adjust.add_argument(
        "--yes",
        action="store_true",
        help=f"do not ask to confirm a change over {format_cents(CONFIRM_ADJUSTMENT_CENTS)}",
    )

    payments = sub.add_parser("payments", help="payments and refunds").add_subparsers(
        dest="verb", required=True
    )
    plist = _with_json(payments.add_parser("list", help="payments and refunds received"))
    plist.add_argument("--address", help="only this Mycelium address")
    plist.add_argument(
        "--limit", type=positive_int, default=100, help="the newest N (default 100)", metavar="N"
    )

    unmatched = sub.add_parser(
        "unmatched", help="payments and usage for unknown accounts"
    ).add_subparsers(dest="verb", required=True)
    ulist = _with_json(unmatched.add_parser("list", help="parked items for unknown accounts"))
    ulist.add_argument("--all", action="store_true", help="include resolved items")
    retry = _with_json(
        unmatched.add_parser("retry", help="apply parked items whose account now exists")
    )
    retry.add_argument(
        "ids", nargs="*", type=positive_int, help="item ids (default: all open items)"
    )

    _with_json(sub.add_parser("audit", help="check every balance against its ledger"))
    admin_usage.add_parsers(sub, _with_json)
    admin_kyc.add_parsers(sub, _with_json)
    admin_ledger.add_parsers(sub, _with_json)
    admin_credit.add_parsers(sub, _with_json)
    return parser


def _with_json(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None, *, out: Any = None) -> int:
    args = make_parser().parse_args(argv)
    console = make_console(out or sys.stdout)
    if args.command == "keygen":
        return _keygen(args.out, console)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"hero-admin: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(json_lines=True if settings.log_json is None else settings.log_json)
    # A failed connection is said in one line below; pika's own lines add only tracebacks.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    command = f"{args.command} {getattr(args, 'verb', None) or ''}".strip()
    handler = COMMANDS[command]
    try:
        bootstrap(settings, create_database=False)
        check_database(settings.database_url)
        return handler(args, settings, console)
    except DatabaseUnavailable as exc:
        problem = str(exc)
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        problem = describe_failure(exc, settings.database_url)
    except BrokerUnavailable as exc:
        problem = describe_broker_failure(exc.__cause__ or exc, settings.amqp_url or "")
    print(f"hero-admin: {problem}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def _keygen(path: str, console: Console) -> int:
    if os.path.exists(path):
        print(f"hero-admin: {path!r} exists; choose another --out", file=sys.stderr)
        return EXIT_USAGE
    key = nacl.signing.SigningKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.encode().hex() + "\n")
    console.print(
        f"wrote private key to {safe(path)}; add the public key to HERO_OPERATOR_PUBKEYS:"
    )
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
    actors.send(messages.AdminCommand(envelope=envelope))
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        outcome = stored_outcome(envelope["nonce"])
        if outcome is not None:
            return outcome
        sleep(0.2)
    return None


def worker_hint(then: str) -> str:
    """What a timeout line adds after "sent, but no worker handled it": start a worker, then
    see with *then* whether the change was made (it waits in the queue for one)."""
    return f"; check that `hero-onboarding worker` runs, then {then}"


#: What the timeout line of most changes adds after "sent, but no worker handled it".
WORKER_HINT = worker_hint("`hero-admin audit`")


def _report(
    action: str,
    outcome: dict[str, Any] | None,
    console: Console,
    *,
    as_json: bool = False,
    hint: str = WORKER_HINT,
) -> int:
    """Print what became of a change: one human line, or its JSON with ``--json``."""
    if outcome is None:
        if as_json:
            print_json(console, {"outcome": "timeout", "waited_s": WAIT_S})
        else:
            console.print(f"sent, but no worker handled it within {WAIT_S:.0f} s{hint}")
        return EXIT_TIMEOUT
    if as_json:
        print_json(console, outcome)
    elif outcome.get("outcome") != "applied":
        console.print(f"refused: {safe(outcome.get('reason'))}")
    else:
        console.print(describe_outcome(action, outcome))
    return EXIT_OK if outcome.get("outcome") == "applied" else EXIT_REFUSED


def _user_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {"address": parse_address_arg(args.address), "email": args.email}
    return _report("user_add", submit("user_add", payload, settings), console, as_json=args.json)


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
    outcome = submit("balance_adjust", payload, settings)
    return _report("balance_adjust", outcome, console, as_json=args.json)


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
    outcome = submit("unmatched_retry", {"item_ids": args.ids}, settings)
    return _report("unmatched_retry", outcome, console, as_json=args.json)


def _node_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {"name": args.name, "repo": args.repo, "pubkey": args.pubkey}
    return _report("node_add", submit("node_add", payload, settings), console, as_json=args.json)


def _pool_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {"vm_ids": args.vm_ids, "address": args.address, "update": args.update}
    return _report("pool_add", submit("pool_add", payload, settings), console, as_json=args.json)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "pool add": _pool_add,
    "pool list": admin_views.pool_list,
    "node add": _node_add,
    "node list": admin_views.node_list,
    "aggregate": admin_usage.aggregate,
    "alerts": admin_views.alerts,
    "alerts resolve": admin_usage.alerts_resolve,
    "reconcile": admin_views.reconcile,
    "user add": _user_add,
    "user list": admin_views.user_list,
    "user show": admin_views.user_show,
    "balance adjust": _balance_adjust,
    "payments list": admin_views.payments_list,
    "unmatched list": admin_views.unmatched_list,
    "unmatched retry": _unmatched_retry,
    "audit": admin_views.audit,
    **admin_ledger.COMMANDS,
    **admin_kyc.COMMANDS,
    **admin_credit.COMMANDS,
}


def run() -> None:
    sys.exit(main())
