"""A paid top-up as the receipts and portal tests need it."""

from __future__ import annotations

from actors.payments import PaymentFact, credit_payment
from models import PaymentEvent
from tests.support.login import ALICE_ADDRESS


def pay(
    amount_cents: int,
    *,
    provider: str = "stripe",
    key: str = "pi_3Qabc",
    address: str = ALICE_ADDRESS,
    topup_id: str | None = "t_7f3a",
) -> int:
    """Credit one payment through the payment actor's core; the event's id."""
    fact = PaymentFact(
        provider=provider,
        payment_key=key,
        address=address,
        amount_cents=amount_cents,
        currency="usd",
        paid_at=PAID_AT,
        topup_id=topup_id,
    )
    assert credit_payment(fact) == "credited"
    return int(PaymentEvent.get(PaymentEvent.key == key).id)


#: 2026-11-20 08:05:00 UTC
PAID_AT = 1_795_161_900
