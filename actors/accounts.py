"""Accounts: created by a worker the first time an address logs in."""

from __future__ import annotations

import structlog

from actors import RETRY_POLICY, actor
from actors.email_verify import send_email_link
from actors.ledger import billing_for
from models import Account, write_transaction
from models.accounts import validate_email
from models.errors import InvalidAddress, InvalidEmail
from wire.address import canonical_address
from wire.times import utcnow

log = structlog.get_logger("hero.accounts")


def create_account(address: str) -> bool:
    """Create the account and its billing row for *address* unless they exist.

    Returns:
        Whether the account is new.

    Raises:
        InvalidAddress: *address* is not a Mycelium address.
    """
    canonical = canonical_address(address)
    created = bool(
        Account.insert(address=canonical, created_at=utcnow())
        .on_conflict(action="NOTHING", conflict_target=[Account.address])
        .as_rowcount()
        .execute()
    )
    billing_for(Account.get(Account.address == canonical))
    return created


@actor(queue_name="accounts", **RETRY_POLICY)
def set_email(address: str, email: str | None) -> str:
    """Set (or clear, with None) the email an account's notifications go to.

    A new address is unverified: only its verification link (``send_email_link``, sent
    from here) goes to it until that link is opened.
    """
    if email is not None:
        try:
            email = validate_email(email)
        except InvalidEmail:
            log.warning("account.email_refused", address=address)
            return "refused"
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return "no_account"
    if account.email == email:
        return "unchanged"
    Account.update(email=email, email_verified_at=None).where(Account.id == account.id).execute()
    if email is not None:
        send_email_link.send(address)
    return "set"


@actor(queue_name="accounts", throws=(InvalidAddress,), **RETRY_POLICY)
def ensure_account(address: str) -> str:
    """Make sure *address* has an account (sent by the gateway at every login)."""
    with write_transaction():
        created = create_account(address)
    log.info("account.ensured", address=address, created=created)
    return "created" if created else "exists"
