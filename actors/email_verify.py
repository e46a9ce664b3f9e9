"""Email addresses proven by a link before any other mail goes to them; email choices.

A link carries a random token; only its sha256 is stored. It works once, for 24 hours,
and only for the address it was sent to: changing the address makes it worthless.
"""

from __future__ import annotations

import datetime as dt
import secrets

import structlog

from actors import RETRY_POLICY, actor, notify
from models import Account, write_transaction
from models.email_prefs import OPTIONAL_KINDS, VERIFY_TTL, EmailVerification, token_hash
from wire.times import utcnow

log = structlog.get_logger("hero.email")

#: Shortest time between two links to the same account (a resend pressed twice).
RESEND_GAP = dt.timedelta(seconds=60)


def verify_mail(email: str, url: str) -> tuple[str, str]:
    """Subject and text of the email carrying the link.

    >>> verify_mail("ada@example.org", "https://h/v?t=x")[0]
    'Confirm your email for Hero'
    """
    return (
        "Confirm your email for Hero",
        f"Someone, we hope you, asked Hero to send receipts and alerts to {email}.\n\n"
        f"To confirm, open this link within 24 hours:\n{url}\n\n"
        "If it was not you, ignore this email: nothing more will be sent to this address.",
    )


def new_link(account: Account, *, now: dt.datetime) -> str | None:
    """Store a verification for *account*'s email and return its token; None when there
    is nothing to verify or a link went out less than ``RESEND_GAP`` ago."""
    if not account.email or account.email_verified_at is not None:
        return None
    recent = EmailVerification.select().where(
        (EmailVerification.account == account) & (EmailVerification.created_at > now - RESEND_GAP)
    )
    if recent.exists():
        return None
    token = secrets.token_urlsafe(32)
    EmailVerification.create(
        account=account,
        email=account.email,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + VERIFY_TTL,
    )
    return token


def confirm(hashed: str, *, now: dt.datetime) -> str:
    """Use the link whose token hashes to *hashed*: ``verified``, ``used``, ``expired``,
    ``changed`` (the account's email is no longer the one it was sent to) or ``unknown``."""
    link = EmailVerification.get_or_none(EmailVerification.token_hash == hashed)
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    if now >= link.expires_at:
        return "expired"
    account = Account.get_by_id(link.account_id)
    if account.email != link.email:
        return "changed"
    used = (
        EmailVerification.update(used_at=now)
        .where((EmailVerification.id == link.id) & EmailVerification.used_at.is_null())
        .execute()
    )
    if not used:
        return "used"
    Account.update(email_verified_at=now).where(
        (Account.id == account.id) & (Account.email == link.email)
    ).execute()
    return "verified"


@actor(queue_name="accounts", **RETRY_POLICY)
def send_email_link(address: str) -> str:
    """Email a verification link to *address*'s account email unless it is verified."""
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return "no_account"
    with write_transaction():
        token = new_link(account, now=utcnow())
    if token is None or not account.email:
        return "not_sent"
    subject, text = verify_mail(account.email, notify.link(f"/account/email/verify?token={token}"))
    notify.current_sender().send(to=account.email, subject=subject, text=text)
    log.info("email.link_sent", address=address)
    return "sent"


@actor(queue_name="accounts", **RETRY_POLICY)
def verify_email(hashed_token: str) -> str:
    """Mark an email verified by the link whose token hashes to *hashed_token*, once."""
    if len(hashed_token) != 64:
        return "unknown"
    with write_transaction():
        outcome = confirm(hashed_token, now=utcnow())
    log.info("email.verify", outcome=outcome)
    return outcome


@actor(queue_name="accounts", **RETRY_POLICY)
def set_email_choices(address: str, muted: list[str]) -> str:
    """Which optional kinds of email *address* turned off (receipts are always sent)."""
    kept = sorted({name for name in muted if name in OPTIONAL_KINDS})
    changed = Account.update(muted_kinds=",".join(kept)).where(Account.address == address).execute()
    return "set" if changed else "no_account"
