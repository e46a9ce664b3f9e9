"""``hero-admin`` commands the console also offers: ``ledger``, ``audit-log``, ``pool retire``
and ``payments refund``. The reads page newest first by id (``--before``); the changes are
signed messages to the admin actor like every other change."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console

from cli.admin_common import EXIT_OK, EXIT_REFUSED, parse_address_arg, print_json, print_rows
from cli.admin_results import positive_int
from models import Account
from models.admin_reads import PAGE_ROWS, audit_page, ledger_page
from settings import Settings

#: The most rows a page may ask for (``--limit``; ``PAGE_ROWS`` when not given).
MAX_PAGE_ROWS = 1000


def add_parsers(sub: Any, with_json: Callable[[argparse.ArgumentParser], Any]) -> None:
    ledger = with_json(sub.add_parser("ledger", help="one account's ledger, newest first"))
    ledger.add_argument("address", help="the user's Mycelium address")
    _paging(ledger, "entries")
    audit_log = with_json(sub.add_parser("audit-log", help="every operator change, newest first"))
    audit_log.add_argument("--action", help="only this action (e.g. balance_adjust)")
    _paging(audit_log, "audit rows")

    retire = with_json(
        _verbs(sub, "pool").add_parser("retire", help="take a free VM out of the pool (audited)")
    )
    retire.add_argument("vm_id", metavar="VM_ID", help="the VM's id (see `pool list`)")
    retire.add_argument("--reason", required=True, help="why (kept in the audit)")

    refund = with_json(
        _verbs(sub, "payments").add_parser(
            "refund", help="refund a Stripe payment through Stripe (audited)"
        )
    )
    refund.add_argument("payment", help="the payment's id or key (see `payments list`)")
    refund.add_argument(
        "--amount",
        type=positive_int,
        metavar="CENTS",
        help="refund CENTS (default: all of the payment not yet refunded)",
    )
    refund.add_argument("--reason", required=True, help="why (kept in the audit and at Stripe)")


def _verbs(sub: Any, command: str) -> Any:
    """The sub-command list of *command*, to add a verb to it."""
    for action in sub.choices[command]._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError(command)


def _page_size(text: str) -> int:
    value = positive_int(text)
    if value > MAX_PAGE_ROWS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_PAGE_ROWS}, not {value}")
    return value


def _paging(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--limit",
        type=_page_size,
        default=PAGE_ROWS,
        metavar="N",
        help=f"{what} per page (default {PAGE_ROWS}, at most {MAX_PAGE_ROWS})",
    )
    parser.add_argument(
        "--before", type=positive_int, metavar="ID", help=f"{what} older than id ID (next page)"
    )


def ledger(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    address = parse_address_arg(args.address)
    account = Account.get_or_none(Account.address == address)
    if account is None:
        console.print(f"no account for {address}; create it with `hero-admin user add`")
        return EXIT_REFUSED
    page = ledger_page(account, limit=args.limit, before=args.before)
    if args.json:
        print_json(console, page)
        return EXIT_OK
    columns = ["id", "created_at", "kind", "amount_cents", "balance_after_cents", "reason"]
    print_rows(page["entries"], columns, False, console, f"ledger of {address}")
    _next_hint(console, page["next_before"])
    return EXIT_OK


def audit_log(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    page = audit_page(limit=args.limit, before=args.before, action=args.action)
    if args.json:
        print_json(console, page)
        return EXIT_OK
    columns = ["id", "created_at", "action", "operator", "outcome", "reason", "refusal"]
    print_rows(page["rows"], columns, False, console, "operator audit")
    _next_hint(console, page["next_before"])
    return EXIT_OK


def _next_hint(console: Console, next_before: int | None) -> None:
    if next_before is not None:
        console.print(f"more: add --before {next_before}")


def pool_retire(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from cli.admin import _report, submit

    payload = {"vm_id": args.vm_id, "reason": args.reason}
    outcome = submit("pool_retire", payload, settings)
    return _report("pool_retire", outcome, console, as_json=args.json)


def payments_refund(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from cli.admin import _report, submit

    payload = {"payment": args.payment, "amount_cents": args.amount, "reason": args.reason}
    outcome = submit("payment_refund", payload, settings)
    return _report("payment_refund", outcome, console, as_json=args.json)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "ledger": ledger,
    "audit-log": audit_log,
    "pool retire": pool_retire,
    "payments refund": payments_refund,
}
