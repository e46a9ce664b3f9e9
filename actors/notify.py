"""Notifications: written once per (kind, key) where things happen, emailed later.

Payment credited, balance running low, tier reached, plan about to end. An account
without a verified email address, or that turned a kind of email off, gets those
notifications marked as skipped (payment receipts cannot be turned off). Sending is
at-least-once: an email is marked sent after the provider accepted it.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from actors import RETRY_POLICY, actor
from actors.deps import current
from adapters.email import EmailError, EmailSender
from models import Account, Notification
from models.email_prefs import wanted
from models.money import format_cents
from models.receipt_mail import receipt_text
from wire.times import utcnow

log = structlog.get_logger("hero.notify")

#: Notifications sent per run of the actor.
BATCH = 200


def current_sender() -> EmailSender:
    """The sender this process was built with."""
    return current().email_sender


def link(path: str) -> str:
    """The address of the gateway's *path* for an email."""
    return f"{current().public_url.rstrip('/')}{path}"


def render(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and text of a notification.

    >>> render("payment_credited", {"amount_cents": 2500})[0]
    'Your Hero credit: $25.00 received'
    """
    if kind == "payment_credited":
        return (
            f"Your Hero credit: {format_cents(payload['amount_cents'])} received",
            f"We received your payment of {format_cents(payload['amount_cents'])}. "
            f"Your balance is now {format_cents(payload.get('balance_after_cents', 0))}."
            + receipt_text(payload, link),
        )
    if kind == "low_balance":
        return ("Your Hero credit is running low", low_balance_text(payload, link("/topup")))
    if kind == "credit_exhausted":
        hours = payload.get("suspend_after_s", 0) // 3600
        return (
            "Your Hero credit is used up",
            f"Your balance is {format_cents(payload['balance_cents'])}, so hosts start no new "
            f"work for you. Usage already running is still charged. Top up to continue; "
            f"your VMs may be suspended after {hours} hours without credit.",
        )
    if kind == "credit_suspension_coming":
        return (
            "Your Hero VMs will be suspended soon",
            f"Your balance is still {format_cents(payload['balance_cents'])}. Unless you top "
            f"up, your VMs will be suspended at {payload['suspend_at']}.",
        )
    if kind == "credit_suspended":
        vms = ", ".join(payload.get("vms") or []) or "none running"
        return (
            "Your Hero VMs are suspended",
            f"Your credit stayed used up, so your VMs were suspended ({vms}). They are kept: "
            "top up above zero and they resume.",
        )
    if kind == "credit_resumed":
        vms = ", ".join(payload.get("vms") or []) or "none"
        return (
            "Your Hero VMs are running again",
            f"Thanks: your balance is {format_cents(payload['balance_cents'])}, so your "
            f"suspended VMs were resumed ({vms}).",
        )
    if kind == "tier_reached":
        share = {"week": "half", "month": "a quarter"}.get(payload["tier"], "less")
        return (
            f"You reached the {payload['tier']} discount tier",
            f"From now on Hero OS and LLM usage costs {share} of the list price.",
        )
    if kind == "plan_expiring":
        return (
            f"Your {payload['plan_id']} plan ends soon",
            f"Your plan ends at {payload['period_end']}. Its VMs go back to the pool then; "
            "buy a new plan to keep going.",
        )
    return (f"Hero: {kind}", json.dumps(payload, indent=2))


def low_balance_text(payload: dict[str, Any], topup_url: str) -> str:
    """The low-balance email: the balance, the threshold, the rate and runway, the link."""
    lines = [f"Your balance is {format_cents(payload['balance_cents'])}."]
    if payload.get("threshold_cents"):
        lines[0] += f" You asked to be told under {format_cents(payload['threshold_cents'])}."
    rate = payload.get("rate_cents_per_day") or 0
    if rate:
        days = payload.get("runway_days")
        lines.append(
            f"Over the last 7 days your usage cost {format_cents(rate)} a day on average"
            + (
                f", so your credit lasts about {days} day{'s' if days != 1 else ''}."
                if days
                else "."
            )
        )
    else:
        lines.append("You had no usage in the last 7 days.")
    lines.append(
        "Top up to keep your VMs and services running; usage is charged even below zero:\n"
        + topup_url
    )
    return "\n\n".join(lines)


def send_pending(sender: EmailSender | None = None) -> dict[str, int]:
    """Email every notification not sent yet (up to ``BATCH``)."""
    sender = sender or current().email_sender
    sent = skipped = failed = 0
    query = (
        Notification.select(Notification, Account)
        .join(Account)
        .where(Notification.sent_at.is_null())
        .order_by(Notification.id)
        .limit(BATCH)
    )
    for note in query:
        email = note.account.email
        if not email or not mailable(note.account, note.kind):
            skipped += (
                Notification.update(sent_at=utcnow()).where(Notification.id == note.id).execute()
            )
            continue
        subject, text = render(note.kind, json.loads(note.payload))
        try:
            sender.send(to=email, subject=subject, text=text)
        except EmailError as exc:
            failed += 1
            log.warning("notify.failed", notification=note.id, error=str(exc))
            continue
        sent += Notification.update(sent_at=utcnow()).where(Notification.id == note.id).execute()
    return {"sent": sent, "skipped": skipped, "failed": failed}


def mailable(account: Account, kind: str) -> bool:
    """Whether a notification of *kind* may be emailed to *account*: it has an email, the
    email was verified by its link, and the user did not turn that kind off."""
    return bool(account.email and account.email_verified_at is not None) and wanted(
        kind, account.muted_kinds or ""
    )


@actor(queue_name="notify", **RETRY_POLICY)
def send_notifications() -> dict[str, int]:
    """Periodic: email pending notifications."""
    return send_pending()
