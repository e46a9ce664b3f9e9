"""hero-admin's read-only commands: they read the database directly, never a message."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from actors.ledger import audit_mismatches
from cli import admin_usage
from cli.admin_common import (
    EXIT_OK,
    EXIT_REFUSED,
    cell,
    iso,
    parse_address_arg,
    print_json,
    print_rows,
    safe,
)
from models import Account, Billing, PaymentEvent, UnmatchedItem
from models.admin_reads import alert_rows, node_rows, pool_rows, user_summary
from settings import Settings


def user_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    rows = [user_summary(a) for a in Account.select().order_by(Account.id)]
    print_rows(
        rows,
        ["address", "balance_cents", "discount_tier", "plan_id", "overdrawn"],
        args.json,
        console,
        "accounts",
    )
    return EXIT_OK


def user_show(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    account = Account.get_or_none(Account.address == parse_address_arg(args.address))
    if account is None:
        console.print(f"no account for {safe(args.address)}; create it with `hero-admin user add`")
        return EXIT_REFUSED
    summary = user_summary(account)
    if args.json:
        print_json(console, summary)
    else:
        for key, value in summary.items():
            console.print(f"{key:>20}  {cell(key, value)}")
    return EXIT_OK


def payments_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    query = PaymentEvent.select().order_by(PaymentEvent.id.desc()).limit(args.limit)
    if args.address:
        query = query.where(PaymentEvent.address == parse_address_arg(args.address))
    rows = [
        {
            "id": p.id,
            "provider": p.provider,
            "kind": p.kind,
            "key": p.key,
            "address": p.address,
            "amount_cents": p.amount_cents,
            "status": p.status,
            "occurred_at": iso(p.occurred_at),
            "received_at": iso(p.received_at),
        }
        for p in query
    ]
    print_rows(
        rows,
        ["id", "provider", "kind", "key", "address", "amount_cents", "status", "occurred_at"],
        args.json,
        console,
        "payments",
    )
    return EXIT_OK


def unmatched_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
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
            "created_at": iso(u.created_at),
            "resolved_at": iso(u.resolved_at),
            "payload": json.loads(u.payload),
        }
        for u in query
    ]
    print_rows(
        rows,
        ["id", "source", "ref", "address", "reason", "created_at"],
        args.json,
        console,
        "unmatched items",
    )
    return EXIT_OK


def audit(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    problems = audit_mismatches()
    if args.json:
        print_json(console, {"ok": not problems, "mismatches": problems})
    elif problems:
        print_rows(
            problems,
            ["address", "balance_cents", "ledger_sum_cents", "last_balance_after_cents"],
            False,
            console,
            "ledger mismatches",
        )
    else:
        console.print(f"ok: every balance equals its ledger ({Billing.select().count()} accounts)")
    return EXIT_REFUSED if problems else EXIT_OK


def node_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    print_rows(
        node_rows(),
        ["name", "repo", "cursor", "cursor_updated_at"],
        args.json,
        console,
        "nodes",
    )
    return EXIT_OK


def alerts(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    print_rows(
        alert_rows(args.all),
        ["id", "kind", "subject", "message", "created_at"],
        args.json,
        console,
        "alerts",
    )
    return EXIT_OK


def reconcile(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    return admin_usage.reconcile(args, settings, console)


def pool_list(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    print_rows(
        pool_rows(),
        ["vm_id", "address", "status", "held_by"],
        args.json,
        console,
        "VM pool",
    )
    return EXIT_OK
