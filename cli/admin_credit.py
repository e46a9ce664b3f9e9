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
    parse_address_arg,
)
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
    from cli.admin import _report, submit, worker_hint

    payload = {
        "address": parse_address_arg(args.address),
        "cents": args.cents,
        "reason": args.reason,
    }
    outcome = submit("credit_allow", payload, settings)
    hint = worker_hint("`hero-admin audit-log --action credit_allow`")
    return _report("credit_allow", outcome, console, as_json=args.json, hint=hint)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "credit allow": credit_allow,
}
