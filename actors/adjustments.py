"""Operator balance adjustments: bounded, with a reason, posted through the ledger.

``by_cents`` is bounded by ``MAX_ADJUSTMENT_CENTS`` either way; ``to_cents`` by
``MAX_BALANCE_CENTS``, and the change it makes by ``MAX_ADJUSTMENT_CENTS``. What is
outside them is refused with ``AdminRefused`` naming the argument, and the admin actor
audits the refusal.
"""

from __future__ import annotations

from typing import Any

from actors.ledger import billing_for, post
from models import Account, Billing, db
from models.admin_commands import adjustment_cents
from models.errors import AdminRefused, InvalidAddress
from models.money import (
    AmountOutOfBounds,
)
from wire.address import canonical_address


def balance_adjust(envelope: dict[str, Any]) -> dict[str, Any]:
    """Move a balance by, or to, an amount with a reason, within the adjustment bounds."""
    args = envelope["args"]
    reason = required_reason(args, "adjustment")
    account = account_of(args.get("address"))
    billing = billing_for(account)
    if db.obj.for_update:
        billing = Billing.select().where(Billing.id == billing.id).for_update().get()
    amount = adjustment_cents(args, balance_cents=int(billing.balance_cents))
    if amount == 0:
        return {"address": account.address, "balance_cents": billing.balance_cents, "changed": 0}
    try:
        posted = post(
            account,
            amount_cents=amount,
            kind="adjustment",
            ref=envelope["nonce"],
            details={"reason": reason, "operator": envelope.get("operator_pubkey")},
        )
    except AmountOutOfBounds as exc:
        raise AdminRefused(str(exc)) from None
    assert posted is not None
    return {
        "address": account.address,
        "balance_cents": posted.balance_after_cents,
        "changed": amount,
    }


def required_reason(args: dict[str, Any], change: str) -> str:
    """The ``reason`` of an operator *change* (an adjustment, a refund...), stripped.

    Raises:
        AdminRefused: naming ``reason`` when there is none.
    """
    reason = str(args.get("reason") or "").strip()
    if not reason:
        raise AdminRefused(f"reason: every {change} needs a reason")
    return reason


def account_of(address: Any) -> Account:
    try:
        canonical = canonical_address(str(address or ""))
    except InvalidAddress as exc:
        raise AdminRefused(f"address: {exc}") from None
    account = Account.get_or_none(Account.address == canonical)
    if account is None:
        raise AdminRefused(f"address: no account for {canonical}; add it with `user add`")
    return account
