"""Operator actions beside those of ``actors.admin``: retire a pool VM, resolve an alert,
and refund a payment through its provider.

A refund is only *asked for* here: Stripe is sent ``POST /v1/refunds`` with an idempotency
key made from the envelope's nonce, and the balance moves when Stripe's ``charge.refunded``
webhook reaches ``actors.refunds``, once, like any refund made in Stripe's dashboard.
"""

from __future__ import annotations

from typing import Any, Protocol

from actors.adjustments import required_reason
from actors.deps import current
from actors.payments import PermanentPaymentError
from actors.refund_state import RefundState
from models import Account, Alert, PaymentEvent, VmAllocation, VmPoolSlot
from models.errors import AdminRefused, PaymentError, ProviderUnavailable
from models.money import format_cents
from wire.times import utcnow

#: Longest reason sent to Stripe in the refund's metadata (Stripe keeps 500 characters).
MAX_METADATA_CHARS = 500


class Refunder(Protocol):
    """Asks a payment provider for a refund (``StripeProvider`` is one)."""

    def create_refund(
        self,
        *,
        payment_key: str,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> dict[str, Any]: ...


def pool_retire(envelope: dict[str, Any]) -> dict[str, Any]:
    """Take a free VM out of the pool; a VM someone holds is refused, naming who."""
    vm_id = str(envelope["args"].get("vm_id") or "").strip()
    if not vm_id:
        raise AdminRefused("vm_id: give the id of the VM to retire")
    retired = (
        VmPoolSlot.update(status="retired")
        .where((VmPoolSlot.vm_id == vm_id) & (VmPoolSlot.status == "free"))
        .execute()
    )
    if retired:
        return {"vm_id": vm_id, "retired": True}
    slot = VmPoolSlot.get_or_none(VmPoolSlot.vm_id == vm_id)
    if slot is None:
        raise AdminRefused(f"vm_id: no VM {vm_id!r} in the pool; see `hero-admin pool list`")
    if slot.status == "retired":
        return {"vm_id": vm_id, "retired": False}
    holder = (
        VmAllocation.select(VmAllocation, Account)
        .join(Account)
        .where((VmAllocation.slot == slot) & VmAllocation.released_at.is_null())
        .first()
    )
    who = holder.account.address if holder is not None else "an account"
    raise AdminRefused(
        f"vm_id: {vm_id} is in use by {who}; it can be retired once that plan ends "
        "and the VM is back in the pool"
    )


def alert_resolve(envelope: dict[str, Any]) -> dict[str, Any]:
    """Mark an open alert resolved."""
    raw = envelope["args"].get("alert_id")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise AdminRefused(f"alert_id: must be an alert's number, not {raw!r}")
    resolved = (
        Alert.update(resolved_at=utcnow())
        .where((Alert.id == raw) & Alert.resolved_at.is_null())
        .execute()
    )
    if resolved:
        return {"alert_id": raw, "resolved": True}
    if Alert.get_or_none(Alert.id == raw) is None:
        raise AdminRefused(f"alert_id: no alert {raw}; see `hero-admin alerts --all`")
    return {"alert_id": raw, "resolved": False}


def find_payment(ref: object) -> PaymentEvent | None:
    """The payment (not a refund row) with id or provider key *ref*."""
    text = str(ref or "").strip()
    query = PaymentEvent.select().where(PaymentEvent.kind == "payment")
    if text.isdigit():
        found: PaymentEvent | None = query.where(PaymentEvent.id == int(text)).first()
        if found is not None:
            return found
    result: PaymentEvent | None = query.where(PaymentEvent.key == text).first()
    return result


def payment_refund(envelope: dict[str, Any]) -> dict[str, Any]:
    """Ask the payment's provider to refund *amount_cents* (default: all that remains)."""
    args = envelope["args"]
    reason = required_reason(args, "refund")
    payment = find_payment(args.get("payment"))
    if payment is None:
        raise AdminRefused(
            f"payment: no payment {args.get('payment')!r}; see `hero-admin payments list`"
        )
    if payment.provider == "clickpesa":
        raise AdminRefused(
            "payment: ClickPesa payments cannot be refunded through ClickPesa's API; send the "
            "money back through ClickPesa's merchant dashboard, then record it with "
            "`hero-admin balance adjust`"
        )
    if payment.account_id is None or payment.status != "applied":
        raise AdminRefused(
            f"payment: {payment.key} was never credited to an account (status "
            f"{payment.status}); there is nothing of ours to refund"
        )
    refunder = current().refunders.get(str(payment.provider))
    if refunder is None:
        raise AdminRefused(
            f"payment: no {payment.provider} API is configured on the worker "
            "(HERO_STRIPE_SECRET_KEY), so it cannot ask for a refund"
        )
    remaining = RefundState.of(payment).remaining_cents
    amount = args.get("amount_cents")
    if amount is None:
        amount = remaining
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= remaining:
        raise AdminRefused(
            f"amount_cents: {amount!r} is not between 1 and the {remaining} cents "
            f"({format_cents(max(remaining, 0))}) of {payment.key} not yet refunded"
        )
    idempotency_key = f"hero-refund-{envelope['nonce']}"
    metadata = {
        "reason": reason[:MAX_METADATA_CHARS],
        "operator": str(args.get("operator") or envelope.get("operator_pubkey") or ""),
    }
    try:
        refund = refunder.create_refund(
            payment_key=str(payment.key),
            amount_cents=amount,
            idempotency_key=idempotency_key,
            metadata=metadata,
        )
    except (PaymentError, ProviderUnavailable, PermanentPaymentError) as exc:
        raise AdminRefused(f"refund not made: {exc}") from None
    return {
        "payment": payment.key,
        "address": payment.address,
        "amount_cents": amount,
        "refund_id": refund.get("id"),
        "refund_status": refund.get("status"),
        "idempotency_key": idempotency_key,
    }
