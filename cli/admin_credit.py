"""``hero-admin credit allow``: let an account go further below the credit floor.

A signed ``credit_allow`` action, carried out and audited by the admin actor like every
other change; hosts hear of the new state through the credit bucket.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console

from cli.admin_common import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    parse_address_arg,
    print_json,
    safe,
)
from models.money import format_cents
from settings import Settings


def add_parsers(sub: Any, with_json: Callable[[argparse.ArgumentParser], Any]) -> None:
    credit = sub.add_parser("credit", help="credit states at the hosts").add_subparsers(
        dest="verb", required=True
    )
    allow = with_json(
        credit.add_parser(
            "allow",
            help="let an account go CENTS below HERO_CREDIT_FLOOR_CENTS before it is "
            "exhausted (signed, audited; 0 takes the allowance away)",
        )
    )
    allow.add_argument("address", help="the user's Mycelium address")
    allow.add_argument(
        "--cents", required=True, type=int, metavar="N", help="the allowance, in cents (0 or more)"
    )
    allow.add_argument("--reason", required=True, help="why (kept in the audit)")


def credit_allow(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from cli.admin import WAIT_S, submit

    payload = {
        "address": parse_address_arg(args.address),
        "cents": args.cents,
        "reason": args.reason,
    }
    outcome = submit("credit_allow", payload, settings)
    if outcome is None:
        if args.json:
            print_json(console, {"outcome": "timeout", "waited_s": WAIT_S})
        else:
            console.print(f"sent, but no worker handled it within {WAIT_S:.0f} s")
        return EXIT_TIMEOUT
    if args.json:
        print_json(console, outcome)
    elif outcome.get("outcome") != "applied":
        console.print(f"refused: {safe(outcome.get('reason'))}")
    else:
        console.print(
            f"{safe(outcome.get('address'))} may go to {format_cents(outcome['limit_cents'])} "
            f"(allowance {format_cents(outcome['allowance_cents'])}, was "
            f"{format_cents(outcome['previous_cents'])}); balance "
            f"{format_cents(outcome['balance_cents'])}, state {safe(outcome.get('state'))}"
        )
    return EXIT_OK if outcome.get("outcome") == "applied" else EXIT_REFUSED


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "credit allow": credit_allow,
}
