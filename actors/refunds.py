"""apply_refund: a provider's refund debited from the account it was paid into, once."""

from __future__ import annotations

from typing import Any

import dramatiq

from actors import RETRY_POLICY
from actors.ledger import post
from actors.payments import _from_unix, _park, insert_event
from models import PaymentEvent, utcnow, write_transaction


def debit_refund(
    *,
    provider: str,
    payment_key: str,
    charge_id: str,
    amount_refunded_cents: int,
    refunds: list[dict[str, Any]] | None,
    refunded_at: int,
    event_id: str | None = None,
) -> str:
    """Debit the refunds of one payment, each once.

    With *refunds* (``[{"id", "amount_cents"}]``, Stripe's list) each refund id is debited
    once. Without it, the charge's cumulative *amount_refunded_cents* is compared with what
    was already debited and only the difference is taken, so replays and out-of-order
    events never debit twice.

    Returns:
        ``"debited"``, ``"duplicate"`` or ``"unmatched"``.
    """
    with write_transaction():
        payment_q = PaymentEvent.select().where(
            (PaymentEvent.provider == provider)
            & (PaymentEvent.kind == "payment")
            & (PaymentEvent.key == payment_key)
        )
        if PaymentEvent._meta.database.obj.for_update:
            payment_q = payment_q.for_update()
        payment = payment_q.first()
        if payment is None or payment.account_id is None:
            _park(
                "refund",
                f"{provider}:{charge_id}:{amount_refunded_cents}",
                None,
                f"refund of unknown or unmatched payment {payment_key}",
                {
                    "provider": provider,
                    "payment_key": payment_key,
                    "charge_id": charge_id,
                    "amount_refunded_cents": amount_refunded_cents,
                    "refunds": refunds,
                    "refunded_at": refunded_at,
                    "event_id": event_id,
                },
            )
            return "unmatched"
        if refunds is None:
            already = sum(
                r.amount_cents
                for r in PaymentEvent.select(PaymentEvent.amount_cents).where(
                    (PaymentEvent.kind == "refund")
                    & (PaymentEvent.payment_key == payment_key)
                    & (PaymentEvent.provider == provider)
                )
            )
            delta = amount_refunded_cents - already
            todo: list[dict[str, Any]] = (
                [{"id": f"{charge_id}:{amount_refunded_cents}", "amount_cents": delta}]
                if delta > 0
                else []
            )
        else:
            todo = list(refunds)
        debited = 0
        for refund in todo:
            amount = int(refund["amount_cents"])
            inserted = insert_event(
                provider=provider,
                kind="refund",
                key=str(refund["id"]),
                address=payment.address,
                account=payment.account_id,
                amount_cents=amount,
                currency=payment.currency,
                payment_key=payment_key,
                occurred_at=_from_unix(refunded_at),
                status="applied",
                event_id=event_id,
                received_at=utcnow(),
            )
            if inserted and post(
                payment.account,
                amount_cents=-amount,
                kind="refund",
                ref=f"{provider}:{refund['id']}",
                paid_cents=-amount,
                details={"payment_key": payment_key, "charge_id": charge_id, "event_id": event_id},
            ):
                debited += 1
    return "debited" if debited else "duplicate"


@dramatiq.actor(queue_name="payments", **RETRY_POLICY)
def apply_refund(
    provider: str,
    payment_key: str,
    charge_id: str,
    amount_refunded_cents: int,
    refunds: list[dict[str, Any]] | None,
    refunded_at: int,
    event_id: str | None = None,
) -> str:
    """Debit a provider refund from the account it was paid into, once."""
    return debit_refund(
        provider=provider,
        payment_key=payment_key,
        charge_id=charge_id,
        amount_refunded_cents=amount_refunded_cents,
        refunds=refunds,
        refunded_at=refunded_at,
        event_id=event_id,
    )
