"""The low-balance threshold a user sets: changed here only, under the billing row lock.

An account is ``low`` under its own threshold (``Billing.low_balance_cents``, $5.00 unless
the user changed it; 0 turns the warning off). The crossing email is written by the
ledger (``actors.runway.crossing_payload`` says what it holds).
"""

from __future__ import annotations

import structlog

from actors import RETRY_POLICY, actor
from actors.credit import record_change
from actors.ledger import billing_for
from models import Account, Billing, db, write_transaction
from models.accounts import MAX_LOW_BALANCE_CENTS
from models.money import AmountOutOfBounds, check_cents
from wire.times import utcnow

log = structlog.get_logger("hero.low_balance")


def set_threshold(account: Account, threshold_cents: int) -> str:
    """Set *account*'s threshold and write its credit state again (caller holds the
    transaction), so hosts and the dashboard see ``low`` or ``ok`` at once.

    Returns:
        The account's credit state.

    Raises:
        AmountOutOfBounds: *threshold_cents* is not between 0 and ``MAX_LOW_BALANCE_CENTS``.
    """
    check_cents("low_balance_cents", threshold_cents, limit=MAX_LOW_BALANCE_CENTS)
    if threshold_cents < 0:
        raise AmountOutOfBounds(f"low_balance_cents: {threshold_cents} is below zero")
    billing_for(account)
    query = Billing.select().where(Billing.account == account)
    if db.obj.for_update:
        query = query.for_update()
    billing = query.get()
    Billing.update(low_balance_cents=threshold_cents, updated_at=utcnow()).where(
        Billing.id == billing.id
    ).execute()
    return record_change(int(account.id), int(billing.balance_cents), low_cents=threshold_cents)


@actor(queue_name="accounts", **RETRY_POLICY)
def set_low_balance(address: str, low_balance_cents: int) -> str:
    """Set the balance under which *address* is warned; ``refused`` when out of bounds."""
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return "no_account"
    try:
        with write_transaction():
            state = set_threshold(account, low_balance_cents)
    except AmountOutOfBounds as exc:
        log.warning("low_balance.refused", address=address, error=str(exc))
        return "refused"
    log.info("low_balance.set", address=address, low_balance_cents=low_balance_cents)
    return state
