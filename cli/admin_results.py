"""hero-admin's argument types and the one line each change prints when it is applied."""

from __future__ import annotations

import argparse
from typing import Any

from cli.admin_common import safe
from models.accounts import validate_email
from models.errors import InvalidEmail
from models.money import format_cents


def positive_int(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def email_arg(text: str) -> str:
    """An argparse type: an email address as the web accepts it."""
    try:
        return validate_email(text)
    except InvalidEmail as exc:
        raise argparse.ArgumentTypeError(f"{text!r} {exc}") from None


def describe_outcome(action: str, outcome: dict[str, Any]) -> str:
    """One markup-safe line saying what an applied change *action* did."""
    if action == "user_add":
        verb = "created" if outcome.get("created") else "already had"
        return f"{verb} the account {safe(outcome.get('address'))}"
    if action == "balance_adjust":
        changed = int(outcome.get("changed") or 0)
        return (
            f"balance of {safe(outcome.get('address'))} changed by {format_cents(changed)}, "
            f"now {format_cents(int(outcome.get('balance_cents') or 0))}"
        )
    if action == "node_add":
        verb = "registered" if outcome.get("created") else "updated"
        return f"{verb} node {safe(outcome.get('name'))}"
    if action == "pool_add":
        line = f"added {outcome.get('added', 0)} VMs to the pool"
        if outcome.get("updated"):
            line += f", updated the address of {outcome['updated']}"
        if outcome.get("already_there"):
            line += f", {outcome['already_there']} already there unchanged"
        return line
    if action == "unmatched_retry":
        results: dict[str, str] = outcome.get("results") or {}
        if not results:
            return "no open parked items to retry"
        listed = ", ".join(f"{safe(i)} {safe(r)}" for i, r in results.items())
        return f"retried {len(results)} parked items: {listed}"
    if action == "pool_retire":
        verb = "retired" if outcome.get("retired") else "was already retired:"
        return f"{verb} VM {safe(outcome.get('vm_id'))}"
    if action == "alert_resolve":
        verb = "resolved" if outcome.get("resolved") else "was already resolved:"
        return f"{verb} alert {safe(outcome.get('alert_id'))}"
    if action == "payment_refund":
        return (
            f"asked for a refund of {format_cents(int(outcome.get('amount_cents') or 0))} of "
            f"{safe(outcome.get('payment'))}: {safe(outcome.get('refund_id'))} "
            f"{safe(outcome.get('refund_status'))}; the balance changes when the provider "
            "confirms it"
        )
    if action == "kyc_set":
        return (
            f"verification of {safe(outcome.get('address'))} set to "
            f"{safe(outcome.get('status'))} (was {safe(outcome.get('previous'))})"
        )
    if action == "credit_allow":
        return (
            f"{safe(outcome.get('address'))} may go to {format_cents(outcome['limit_cents'])} "
            f"(allowance {format_cents(outcome['allowance_cents'])}, was "
            f"{format_cents(outcome['previous_cents'])}); balance "
            f"{format_cents(outcome['balance_cents'])}, state {safe(outcome.get('state'))}"
        )
    return safe(outcome)
