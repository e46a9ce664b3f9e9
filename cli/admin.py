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
from rich.table import Table

import actors
from actors.admin import handle, make_envelope, stored_outcome
from actors.ledger import audit_mismatches
from cli import admin_usage
from cli.logs import configure_logging
from cli.runtime import wire_actors
from models import Account, Billing, PaymentEvent, UnmatchedItem
from models.address import canonical_address
from models.errors import InvalidAddress
from models.money import format_cents
from settings import ConfigError, Settings

#: Done as asked.
EXIT_OK = 0
#: Refused, or the audit found a mismatch.
EXIT_REFUSED = 1
#: Bad usage or configuration.
EXIT_USAGE = 2
#: A change was sent but no worker handled it in time.
EXIT_TIMEOUT = 3

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


def _address(text: str) -> str:
    try:
        return canonical_address(text)
    except InvalidAddress as exc:
        raise SystemExit(f"hero-admin: address: {exc}") from None


def _user_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    return _report(
        submit("user_add", {"address": _address(args.address), "email": args.email}, settings),
        console,
    )


def _balance_adjust(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {
        "address": _address(args.address),
        "to_cents": args.to,
        "by_cents": args.by,
        "reason": args.reason,
    }
    return _report(submit("balance_adjust", payload, settings), console)


def _unmatched_retry(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    return _report(submit("unmatched_retry", {"item_ids": args.ids}, settings), console)


def user_summary(account: Account) -> dict[str, Any]:
    """What ``user show --json`` prints for *account*."""
    from models import PlanSubscription

    billing = Billing.get_or_none(Billing.account == account)
    plan = (
        PlanSubscription.select()
        .where((PlanSubscription.account == account) & (PlanSubscription.status == "active"))
        .order_by(PlanSubscription.id.desc())
        .first()
    )
    return {
        "address": account.address,
        "email": account.email,
        "balance_cents": billing.balance_cents if billing else 0,
        "lifetime_paid_cents": billing.lifetime_paid_cents if billing else 0,
        "first_paid_at": _iso(billing.first_paid_at) if billing else None,
        "discount_tier": billing.discount_tier if billing else "none",
        "overdrawn": bool(billing.overdrawn) if billing else False,
        "plan_id": plan.plan_id if plan else None,
        "plan_period_end": _iso(plan.period_end) if plan else None,
        "vm_quota_total": plan.vm_quota_total if plan else 0,
        "vm_quota_used": plan.vm_quota_used if plan else 0,
        "created_at": _iso(account.created_at),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def _print_rows(
    rows: list[dict[str, Any]], columns: list[str], as_json: bool, console: Console, title: str
) -> None:
    if as_json:
        console.print_json(json.dumps(rows, default=str)) if rows else console.print("[]")
        return
    if not rows:
        console.print(f"no {title}")
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[_cell(column, row.get(column)) for column in columns])
    console.print(table)


def _cell(column: str, value: Any) -> str:
    if column.endswith("_cents") and isinstance(value, int):
        return format_cents(value)
    return "" if value is None else str(value)


def _user_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    rows = [user_summary(a) for a in Account.select().order_by(Account.id)]
    _print_rows(
        rows,
        ["address", "balance_cents", "discount_tier", "plan_id", "overdrawn"],
        args.json,
        console,
        "accounts",
    )
    return EXIT_OK


def _user_show(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    account = Account.get_or_none(Account.address == _address(args.address))
    if account is None:
        console.print(f"no account for {args.address}; create it with `hero-admin user add`")
        return EXIT_REFUSED
    summary = user_summary(account)
    if args.json:
        console.print_json(json.dumps(summary))
    else:
        for key, value in summary.items():
            console.print(f"{key:>20}  {_cell(key, value)}")
    return EXIT_OK


def _payments_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    query = PaymentEvent.select().order_by(PaymentEvent.id.desc()).limit(args.limit)
    if args.address:
        query = query.where(PaymentEvent.address == _address(args.address))
    rows = [
        {
            "id": p.id,
            "provider": p.provider,
            "kind": p.kind,
            "key": p.key,
            "address": p.address,
            "amount_cents": p.amount_cents,
            "status": p.status,
            "occurred_at": _iso(p.occurred_at),
            "received_at": _iso(p.received_at),
        }
        for p in query
    ]
    _print_rows(
        rows,
        ["id", "provider", "kind", "key", "address", "amount_cents", "status", "occurred_at"],
        args.json,
        console,
        "payments",
    )
    return EXIT_OK


def _unmatched_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    query = UnmatchedItem.select().order_by(UnmatchedItem.id)
    if not args.all:
        query = query.where(UnmatchedItem.resolved_at.is_null())
    rows = [
        {
            "id": u.id,
            "source": u.source,
            "ref": u.ref,
            "address": u.address,
            "reason": u.reason,
            "attempts": u.attempts,
            "created_at": _iso(u.created_at),
            "resolved_at": _iso(u.resolved_at),
            "payload": json.loads(u.payload),
        }
        for u in query
    ]
    _print_rows(
        rows,
        ["id", "source", "ref", "address", "reason", "created_at"],
        args.json,
        console,
        "unmatched items",
    )
    return EXIT_OK


def _audit(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    problems = audit_mismatches()
    if args.json:
        console.print_json(json.dumps({"ok": not problems, "mismatches": problems}))
    elif problems:
        _print_rows(
            problems,
            ["address", "balance_cents", "ledger_sum_cents", "last_balance_after_cents"],
            False,
            console,
            "ledger mismatches",
        )
    else:
        console.print(f"ok: every balance equals its ledger ({Billing.select().count()} accounts)")
    return EXIT_REFUSED if problems else EXIT_OK


def _node_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {"name": args.name, "repo": args.repo, "pubkey": args.pubkey}
    return _report(submit("node_add", payload, settings), console)


def _node_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    _print_rows(admin_usage.node_rows(), ["name", "repo", "cursor", "cursor_updated_at"],
                args.json, console, "nodes")
    return EXIT_OK


def _alerts(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    _print_rows(admin_usage.alert_rows(args.all), ["id", "kind", "subject", "message",
                                                    "created_at"], args.json, console, "alerts")
    return EXIT_OK


def _reconcile(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    found = admin_usage.reconcile_rows(args.grace_minutes)
    if args.json:
        console.print_json(json.dumps(found))
    else:
        for name, keys in found.items():
            console.print(f"{name}: {len(keys)}" + (f" ({', '.join(keys[:20])}"
                          f"{' ...' if len(keys) > 20 else ''})" if keys else ""))
    return EXIT_REFUSED if any(found.values()) else EXIT_OK


def _pool_add(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    payload = {"vm_ids": args.vm_ids, "address": args.address}
    return _report(submit("pool_add", payload, settings), console)


def _pool_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    _print_rows(admin_usage.pool_rows(), ["vm_id", "address", "status", "held_by"], args.json,
                console, "VM pool")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "pool add": _pool_add,
    "pool list": _pool_list,
    "node add": _node_add,
    "node list": _node_list,
    "aggregate": admin_usage.aggregate,
    "alerts": _alerts,
    "reconcile": _reconcile,
    "user add": _user_add,
    "user list": _user_list,
    "user show": _user_show,
    "balance adjust": _balance_adjust,
    "payments list": _payments_list,
    "unmatched list": _unmatched_list,
    "unmatched retry": _unmatched_retry,
    "audit": _audit,
}


def run() -> None:
    sys.exit(main())
