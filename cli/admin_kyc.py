"""``hero-admin kyc``: an account's identity verification, and an operator's decision.

``show`` reads the database; ``set`` is a signed ``kyc_set`` action, carried out and
audited by the admin actor like every other change. ``check`` asks iDenfy once for the
verdict on the account's latest session (for a webhook that never came) and hands the
answer to the worker as a webhook's would be (``record_kyc_result``), so iDenfy's word,
not the operator's, decides.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

import actors
from actors.deps import current
from actors.kyc import record_kyc_result, status_of
from adapters.kyc import KycAnswerInvalid, KycKeysRefused, KycRetryLater
from cli.admin_common import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    EXIT_UNAVAILABLE,
    parse_address_arg,
    print_json,
    safe,
)
from messages.facts import KycChecked, message_for
from models import Account
from models.kyc import KycEvent, KycVerification
from models.kyc_checks import KycStatusCheck
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
    check = with_json(
        kyc.add_parser(
            "check",
            help="ask iDenfy once for the verdict on the latest session (a missed webhook)",
        )
    )
    check.add_argument("address", help="the user's Mycelium address")


def kyc_show(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    address = parse_address_arg(args.address)
    account = Account.get_or_none(Account.address == address)
    if account is None:
        console.print(f"no account for {safe(address)}")
        return EXIT_REFUSED
    view = {"address": address, **status_of(account, history=True)}
    check = KycStatusCheck.get_or_none(KycStatusCheck.scan_ref == view["scan_ref"])
    view["status_check"] = (
        None
        if check is None
        else {"outcome": check.outcome, "attempts": check.attempts, "note": check.note}
    )
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
    if check is not None:
        console.print(
            f"scheduled status check: {safe(check.outcome)} after {check.attempts} call(s)"
            + (f" ({safe(check.note)})" if check.note else "")
        )
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
    from cli.admin import _report, submit, worker_hint

    payload = {
        "address": parse_address_arg(args.address),
        "status": args.status,
        "reason": args.reason,
    }
    outcome = submit("kyc_set", payload, settings)
    hint = worker_hint(f"`hero-admin kyc show {payload['address']}`")
    return _report("kyc_set", outcome, console, as_json=args.json, hint=hint)


def kyc_check(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    address = parse_address_arg(args.address)
    account = Account.get_or_none(Account.address == address)
    row = KycVerification.get_or_none(KycVerification.account == account) if account else None
    if account is None or row is None or not row.scan_ref:
        why = "no account" if account is None else "no verification session"
        return _said(console, args.json, EXIT_REFUSED, f"{why} for {address}", outcome="none")
    source = current().kyc_status
    if source is None:
        return _said(
            console,
            args.json,
            EXIT_REFUSED,
            f"no status to ask for: HERO_KYC_PROVIDER is {settings.kyc_provider}, not idenfy "
            "with its keys",
            outcome="none",
        )
    before = {"status": row.status, "reviewing": status_of(account)["reviewing"]}
    try:
        fact = source.status(row.scan_ref)
    except KycKeysRefused as exc:
        return _said(console, args.json, EXIT_UNAVAILABLE, str(exc), outcome="keys_refused")
    except KycRetryLater as exc:
        return _said(
            console,
            args.json,
            EXIT_UNAVAILABLE,
            f"{exc}; nothing changed, the session is still {row.status}: try again later",
            outcome="unavailable",
        )
    except KycAnswerInvalid as exc:
        return _said(
            console,
            args.json,
            EXIT_REFUSED,
            f"iDenfy's answer cannot be used ({exc}); nothing changed",
            outcome="unusable",
        )
    effect = _apply(fact)
    if effect is None:
        return _said(
            console,
            args.json,
            EXIT_TIMEOUT,
            "iDenfy answered, but no worker recorded it in time; check that "
            "`hero-onboarding worker` runs, then `hero-admin kyc show`",
            outcome="timeout",
        )
    after = status_of(account)
    view = {
        "outcome": effect,
        "address": address,
        "scan_ref": row.scan_ref,
        "idenfy": {
            k: fact.result[k]
            for k in ("overall", "final", "auto_document", "auto_face", "manual_document")
            + ("manual_face", "tags")
        },
        "before": before,
        "after": {"status": after["status"], "reviewing": after["reviewing"]},
    }
    if args.json:
        print_json(console, view)
        return EXIT_OK
    said = f"iDenfy says {safe(fact.result['overall'])}" + (
        "" if fact.result["final"] else " (not final)"
    )
    if (after["status"], after["reviewing"]) != (before["status"], before["reviewing"]):
        changed = f"{safe(after['status'])} (was {safe(before['status'])})"
        console.print(f"{safe(address)}: {said}; set to {changed}")
    else:
        why = "already recorded" if effect == "duplicate" else "nothing changed"
        console.print(f"{safe(address)}: {said}; {why}, still {safe(after['status'])}")
    return EXIT_OK


def _apply(fact: KycChecked) -> str | None:
    """Hand *fact* to the worker as a webhook's is; what it did (None: not in time)."""
    from cli.admin import WAIT_S

    digest = fact.result["digest"]

    def recorded() -> str | None:
        event = KycEvent.get_or_none(KycEvent.digest == digest)
        return None if event is None else str(event.effect)

    if (seen := recorded()) is not None:
        return "duplicate"
    if actors.is_in_process():
        return str(record_kyc_result(fact.result))
    actors.send(message_for(fact))
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if (seen := recorded()) is not None:
            return seen
        time.sleep(0.2)
    return None


def _said(console: Console, as_json: bool, code: int, message: str, *, outcome: str) -> int:
    if as_json:
        print_json(console, {"outcome": outcome, "message": message})
    else:
        console.print(safe(message))
    return code


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Console], int]] = {
    "kyc show": kyc_show,
    "kyc set": kyc_set,
    "kyc check": kyc_check,
}
