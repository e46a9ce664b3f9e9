"""``hero-admin kyc``: an account's identity verification, and an operator's decision.

``show`` reads the database; ``set`` is a signed ``kyc_set`` action, carried out and
audited by the admin actor like every other change.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from actors.kyc import status_of
from cli.admin_common import (
    EXIT_OK,
    EXIT_REFUSED,
    parse_address_arg,
    print_json,
    safe,
)
from models import Account
from settings import Settings


def add_parsers(sub: Any, with_json: Callable[[argparse.ArgumentParser], Any]) -> None:
    kyc = sub.add_parser("kyc", help="identity verification of accounts").add_subparsers(
        dest="verb", required=True
    )
    show = with_json(kyc.add_parser("show", help="an account's verification and its history"))
    show.add_argument("address", help="the user's Mycelium address")
    decide = with_json(
        kyc.add_parser("set", help="approve or deny an account yourself (signed, audited)")
    )
    decide.add_argument("address", help="the user's Mycelium address")
    decide.add_argument(
        "--status",
        required=True,
        choices=("approved", "denied"),
        help="the decision to record: approved or denied",
    )
    decide.add_argument("--reason", required=True, help="why (kept in the audit and history)")


def kyc_show(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    address = parse_address_arg(args.address)
    account = Account.get_or_none(Account.address == address)
    if account is None:
        console.print(f"no account for {safe(address)}")
        return EXIT_REFUSED
    view = {"address": address, **status_of(account, history=True)}
    if args.json:
        print_json(console, view)
        return EXIT_OK
    console.print(
        f"{safe(address)}: {safe(view['status'])}"
        + (" (under review)" if view["reviewing"] else "")
        + f", provider {safe(view['provider'] or '-')}, reference {safe(view['scan_ref'] or '-')}"
    )
    if view["reasons"]:
        console.print("reasons: " + ", ".join(safe(r) for r in view["reasons"]))
    table = Table(title="history")
    for column in ("received_at", "source", "event", "final", "overall", "codes", "effect", "note"):
        table.add_column(column)
    for event in view["history"]:
        codes = [*event["codes"], *(t for tags in event["tags"].values() for t in tags)]
        table.add_row(
            safe(event["received_at"]),
            safe(event["source"]),
            safe(event["event_type"]),
            safe(event["final"]),
            safe(event["overall"]),
            safe(", ".join(codes)),
            safe(f"{event['effect']} -> {event['state']}" if event["state"] else event["effect"]),
            safe(event["note"] or ""),
        )
    console.print(table if view["history"] else "no results received")
    return EXIT_OK


def kyc_set(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from cli.admin import _report, submit

    payload = {
        "address": parse_address_arg(args.address),
        "status": args.status,
        "reason": args.reason,
    }
    outcome = submit("kyc_set", payload, settings)
    return _report("kyc_set", outcome, console, as_json=args.json, hint="")


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "kyc show": kyc_show,
    "kyc set": kyc_set,
}
