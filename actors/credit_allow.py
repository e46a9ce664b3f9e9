"""Operator credit allowances: how far below ``HERO_CREDIT_FLOOR_CENTS`` an account may go
before it is ``exhausted``.

Carried out by the signed admin actor in its audited transaction: the account's billing
row is locked, the allowance set, and the state computed again with a new sequence
number, so hosts hear of it like any balance change (and a suspended account whose
balance is now above its limit is resumed).
"""

from __future__ import annotations

from typing import Any

from actors.adjustments import account_of, required_reason
from actors.credit import policy, record_change
from actors.ledger import lock_billing
from models.credit import CreditState
from models.errors import AdminRefused
from models.money import MAX_ALLOWANCE_CENTS, AmountOutOfBounds, check_cents
from wire.times import utcnow


def allowance_cents(value: Any) -> int:
    """*value* as an allowance: whole cents, 0 (none) up to ``MAX_ALLOWANCE_CENTS``.

    >>> allowance_cents(2500)
    2500

    Raises:
        AdminRefused: naming ``cents`` and the problem.
    """
    try:
        cents = check_cents("cents", value, limit=MAX_ALLOWANCE_CENTS)
    except AmountOutOfBounds as exc:
        raise AdminRefused(str(exc)) from None
    if cents < 0:
        raise AdminRefused(
            f"cents: {cents} is below zero; an allowance is how far under the floor an "
            "account may go (0 takes it away)"
        )
    return cents


def credit_allow(envelope: dict[str, Any]) -> dict[str, Any]:
    """Set an account's allowance below the floor, with a reason (caller audits)."""
    args = envelope["args"]
    required_reason(args, "allowance")
    cents = allowance_cents(args.get("cents"))
    account = account_of(args.get("address"))
    balance = lock_billing({account.id})[account.id].balance_cents
    row: CreditState | None = CreditState.get_or_none(CreditState.account == account.id)
    if row is None:
        record_change(account.id, balance)
        row = CreditState.get(CreditState.account == account.id)
    previous = int(row.allowance_cents)
    CreditState.update(allowance_cents=cents, updated_at=utcnow()).where(
        CreditState.id == row.id
    ).execute()
    state = record_change(account.id, balance)
    return {
        "address": account.address,
        "allowance_cents": cents,
        "previous_cents": previous,
        "limit_cents": policy().floor_cents - cents,
        "balance_cents": balance,
        "state": state,
    }
