"""apply_payment and apply_refund: provider facts to ledger entries, each exactly once.

Idempotency lives in the database: ``PaymentEvent`` is unique by (provider, kind, key)
and ``LedgerEntry`` by (kind, ref), both written in the transaction that moves the
balance. A message delivered any number of times, by any number of workers, credits once.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from actors import RETRY_POLICY, actor
from actors.alerts import raise_alert
from actors.ledger import post
from models import Account, PaymentEvent, TopUp, UnmatchedItem, write_transaction
from models.errors import InvalidAddress
from models.money import CURRENCY, MAX_PAYMENT_CENTS
from models.ops import Notice, notify
from wire.address import canonical_address
from wire.times import iso_z, utcnow

log = structlog.get_logger("hero.payments")


#: Latest provider time accepted, Unix seconds (2286-11-20).
MAX_UNIX_S = 10_000_000_000


class PermanentPaymentError(Exception):
    """A payment message that can never be applied as sent (retrying will not help)."""


@dataclass(frozen=True)
class PaymentFact:
    """What a provider told us about one payment, in JSON primitives."""

    provider: str
    payment_key: str
    address: str | None
    amount_cents: int
    currency: str
    paid_at: int  # Unix seconds, the provider's own payment time
    topup_id: str | None = None
    event_id: str | None = None

    def validate(self) -> None:
        if not isinstance(self.payment_key, str) or not self.payment_key:
            raise PermanentPaymentError("payment_key: empty or not a string")
        if isinstance(self.amount_cents, bool) or not isinstance(self.amount_cents, int):
            raise PermanentPaymentError(f"amount_cents: not an integer: {self.amount_cents!r}")
        if not 0 < self.amount_cents <= MAX_PAYMENT_CENTS:
            raise PermanentPaymentError(
                f"amount_cents: {self.amount_cents} is outside 1..{MAX_PAYMENT_CENTS} cents"
            )
        if not isinstance(self.currency, str) or len(self.currency) != 3:
            raise PermanentPaymentError(f"currency: not a 3-letter code: {self.currency!r}")
        if len(self.payment_key) > 200:
            raise PermanentPaymentError("payment_key: longer than 200 characters")
        if isinstance(self.paid_at, bool) or not isinstance(self.paid_at, int):
            raise PermanentPaymentError(f"paid_at: not Unix seconds: {self.paid_at!r}")
        if not 0 <= self.paid_at <= MAX_UNIX_S:
            raise PermanentPaymentError(f"paid_at: {self.paid_at} is outside 0..{MAX_UNIX_S}")


def _from_unix(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def _find_account(address: str | None) -> tuple[Account | None, str | None, str]:
    """The account of *address*, its canonical text, and why it is unmatched (if it is)."""
    if not address:
        return None, None, "no address on the payment"
    try:
        canonical = canonical_address(address)
    except InvalidAddress as exc:
        return None, address, f"address: {exc}"
    account = Account.get_or_none(Account.address == canonical)
    return account, canonical, "" if account else f"no account for address {canonical}"


def _park(source: str, ref: str, address: str | None, reason: str, payload: dict[str, Any]) -> None:
    UnmatchedItem.insert(
        source=source,
        ref=ref,
        address=address,
        reason=reason,
        payload=json.dumps(payload, sort_keys=True),
        created_at=utcnow(),
    ).on_conflict(
        action="NOTHING", conflict_target=[UnmatchedItem.source, UnmatchedItem.ref]
    ).execute()


def insert_event(**fields: Any) -> bool:
    """Record a provider event unless (provider, kind, key) is known; whether it is new."""
    return bool(
        PaymentEvent.insert(**fields)
        .on_conflict(
            action="NOTHING",
            conflict_target=[PaymentEvent.provider, PaymentEvent.kind, PaymentEvent.key],
        )
        .as_rowcount()
        .execute()
    )


def credit_payment(fact: PaymentFact) -> str:
    """Record *fact* and credit its account; the caller holds no transaction.

    Returns:
        ``"credited"``, ``"duplicate"`` or ``"unmatched"`` (parked for an operator).

    Raises:
        PermanentPaymentError: the fact can never be applied (bad amount or key).
    """
    fact.validate()
    account, address, reason = _find_account(fact.address)
    if account is not None and fact.currency.lower() != CURRENCY:
        account, reason = None, f"currency: {fact.currency!r} is not {CURRENCY}"
    paid_at = _from_unix(fact.paid_at)
    with write_transaction():
        inserted = insert_event(
            provider=fact.provider,
            kind="payment",
            key=fact.payment_key,
            address=address,
            account=account,
            amount_cents=fact.amount_cents,
            currency=fact.currency.lower(),
            occurred_at=paid_at,
            status="applied" if account else "unmatched",
            topup_public_id=fact.topup_id,
            event_id=fact.event_id,
            received_at=utcnow(),
        )
        if not inserted:
            return "duplicate"
        if account is None:
            _park("payment", f"{fact.provider}:{fact.payment_key}", address, reason, asdict(fact))
            log.warning("payment.unmatched", key=fact.payment_key, reason=reason)
            return "unmatched"
        _credit(account, fact, paid_at)
    return "credited"


def _receipt_facts(fact: PaymentFact, paid_at: dt.datetime) -> dict[str, Any]:
    """What the payment email shows of the receipt: its id (the page's address), provider,
    reference, top-up and time."""
    payment_id = (
        PaymentEvent.select(PaymentEvent.id)
        .where(
            (PaymentEvent.provider == fact.provider)
            & (PaymentEvent.kind == "payment")
            & (PaymentEvent.key == fact.payment_key)
        )
        .scalar()
    )
    return {
        "payment_id": payment_id,
        "provider": fact.provider,
        "payment_key": fact.payment_key,
        "topup_id": fact.topup_id,
        "paid_at": iso_z(paid_at),
    }


def _credit(account: Account, fact: PaymentFact, paid_at: dt.datetime) -> None:
    posted = post(
        account,
        amount_cents=fact.amount_cents,
        kind="payment",
        ref=f"{fact.provider}:{fact.payment_key}",
        details={
            "provider": fact.provider,
            "payment_key": fact.payment_key,
            "event_id": fact.event_id,
            "topup_id": fact.topup_id,
            "paid_at": iso_z(paid_at),
        },
        paid_cents=fact.amount_cents,
        paid_at=paid_at,
    )
    if fact.topup_id:
        TopUp.update(status="paid", updated_at=utcnow()).where(
            TopUp.public_id == fact.topup_id
        ).execute()
    if posted:
        notify(
            Notice(
                int(account.id),
                "payment_credited",
                f"{fact.provider}:{fact.payment_key}",
                {
                    "amount_cents": fact.amount_cents,
                    "balance_after_cents": posted.balance_after_cents,
                    **_receipt_facts(fact, paid_at),
                },
            )
        )
        log.info(
            "payment.credited",
            key=fact.payment_key,
            amount_cents=fact.amount_cents,
            balance_after_cents=posted.balance_after_cents,
        )


def retry_unmatched_payment(item_id: int) -> str:
    """Apply a parked payment whose account now exists.

    Returns:
        ``"credited"``, ``"still_unmatched"`` or ``"already_resolved"``.
    """
    item = UnmatchedItem.get_by_id(item_id)
    if item.resolved_at is not None:
        return "already_resolved"
    fact = PaymentFact(**json.loads(item.payload))
    account, address, reason = _find_account(fact.address)
    if account is None or fact.currency.lower() != CURRENCY:
        UnmatchedItem.update(attempts=UnmatchedItem.attempts + 1).where(
            UnmatchedItem.id == item.id
        ).execute()
        return "still_unmatched"
    with write_transaction():
        claimed = (
            PaymentEvent.update(status="applied", account=account, address=address)
            .where(
                (PaymentEvent.provider == fact.provider)
                & (PaymentEvent.kind == "payment")
                & (PaymentEvent.key == fact.payment_key)
                & (PaymentEvent.status == "unmatched")
            )
            .execute()
        )
        UnmatchedItem.update(resolved_at=utcnow(), attempts=UnmatchedItem.attempts + 1).where(
            UnmatchedItem.id == item.id
        ).execute()
        if not claimed:
            return "already_resolved"
        _credit(account, fact, _from_unix(fact.paid_at))
    return "credited"


@actor(queue_name="payments", throws=(PermanentPaymentError,), **RETRY_POLICY)
def apply_payment(
    provider: str,
    payment_key: str,
    address: str | None,
    amount_cents: int,
    currency: str,
    paid_at: int,
    topup_id: str | None = None,
    event_id: str | None = None,
) -> str:
    """Credit one provider payment to its account, once; a fact that can never be applied
    raises an operator alert and is not retried."""
    fact = PaymentFact(
        provider=provider,
        payment_key=payment_key,
        address=address,
        amount_cents=amount_cents,
        currency=currency,
        paid_at=paid_at,
        topup_id=topup_id,
        event_id=event_id,
    )
    try:
        return credit_payment(fact)
    except PermanentPaymentError as exc:
        raise_alert("payment_refused", "apply_payment", str(exc), asdict(fact))
        log.warning("payment.refused", key=payment_key, reason=str(exc))
        raise


@actor(queue_name="payments", **RETRY_POLICY)
def record_topup(
    public_id: str,
    address: str,
    provider: str,
    amount_cents: int,
    provider_ref: str | None,
) -> str:
    """Remember a top-up a user started, so its webhook can be matched and shown."""
    account = Account.get_or_none(Account.address == canonical_address(address))
    if account is None:
        raise PermanentPaymentError(f"address: no account for {address}")
    inserted = (
        TopUp.insert(
            public_id=public_id,
            account=account,
            provider=provider,
            amount_cents=amount_cents,
            provider_ref=provider_ref,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict(action="NOTHING", conflict_target=[TopUp.public_id])
        .as_rowcount()
        .execute()
    )
    return "recorded" if inserted else "duplicate"


@actor(queue_name="payments", **RETRY_POLICY)
def record_payment_failure(
    provider: str, topup_id: str | None, payment_key: str, reason: str
) -> str:
    """Mark a top-up failed; nothing is credited."""
    log.info("payment.failed", provider=provider, key=payment_key, reason=reason)
    if not topup_id:
        return "ignored"
    TopUp.update(status="failed", updated_at=utcnow()).where(
        (TopUp.public_id == topup_id) & (TopUp.status == "started")
    ).execute()
    return "failed"
