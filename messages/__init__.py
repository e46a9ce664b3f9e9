"""Every message between processes, declared once: its actor's name and typed fields.

A message is a frozen dataclass whose fields are the keyword arguments of its actor
(JSON primitives only: ids, ints, strings, lists and dicts of them). Senders build a
message and hand it to ``actors.send``; nothing outside this package names an actor by
a string. ``tests/unit/test_message_contract.py`` binds each class to its actor's
signature, so a field renamed on one side only fails the unit tests, not the worker.

This package imports neither peewee, dramatiq nor the gateway: the gateway, the CLI,
the adapters and the workers all import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class Message:
    """One message to one actor. Subclasses set ``actor`` and declare the fields."""

    actor: ClassVar[str] = ""

    @property
    def kwargs(self) -> dict[str, Any]:
        """The actor's keyword arguments (fields by name, values as they are)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# Payments (queue "payments").
@dataclass(frozen=True)
class ApplyPayment(Message):
    actor: ClassVar[str] = "apply_payment"
    provider: str
    payment_key: str
    address: str | None
    amount_cents: int
    currency: str
    paid_at: int
    topup_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class RecordTopup(Message):
    actor: ClassVar[str] = "record_topup"
    public_id: str
    address: str
    provider: str
    amount_cents: int
    provider_ref: str | None


@dataclass(frozen=True)
class RecordPaymentFailure(Message):
    actor: ClassVar[str] = "record_payment_failure"
    provider: str
    topup_id: str | None
    payment_key: str
    reason: str


@dataclass(frozen=True)
class NoteCheckout(Message):
    actor: ClassVar[str] = "note_checkout"
    public_id: str
    address: str
    provider_ref: str
    checkout_url: str


@dataclass(frozen=True)
class CancelTopup(Message):
    actor: ClassVar[str] = "cancel_topup"
    public_id: str
    address: str


@dataclass(frozen=True)
class ApplyRefund(Message):
    actor: ClassVar[str] = "apply_refund"
    provider: str
    payment_key: str
    charge_id: str
    amount_refunded_cents: int
    refunds: list[dict[str, Any]] | None
    refunded_at: int
    event_id: str | None = None


@dataclass(frozen=True)
class CreditFailedRefund(Message):
    actor: ClassVar[str] = "credit_failed_refund"
    provider: str
    payment_key: str
    refund_id: str
    amount_cents: int
    failed_at: int
    event_id: str | None = None


@dataclass(frozen=True)
class ConfirmClickpesaPayment(Message):
    actor: ClassVar[str] = "confirm_clickpesa_payment"
    order_reference: str
    webhook_event: str


@dataclass(frozen=True)
class ReconcileClickpesaTopups(Message):
    actor: ClassVar[str] = "reconcile_clickpesa_topups"


@dataclass(frozen=True)
class RetryParkedItems(Message):
    actor: ClassVar[str] = "retry_parked_items"


# Accounts (queue "accounts").
@dataclass(frozen=True)
class EnsureAccount(Message):
    actor: ClassVar[str] = "ensure_account"
    address: str


@dataclass(frozen=True)
class SetEmail(Message):
    actor: ClassVar[str] = "set_email"
    address: str
    email: str | None


@dataclass(frozen=True)
class SetLowBalance(Message):
    actor: ClassVar[str] = "set_low_balance"
    address: str
    low_balance_cents: int


@dataclass(frozen=True)
class SendEmailLink(Message):
    actor: ClassVar[str] = "send_email_link"
    address: str


@dataclass(frozen=True)
class VerifyEmail(Message):
    actor: ClassVar[str] = "verify_email"
    hashed_token: str


@dataclass(frozen=True)
class SetEmailChoices(Message):
    actor: ClassVar[str] = "set_email_choices"
    address: str
    muted: list[str]


# Plans and VMs (queue "plans").
@dataclass(frozen=True)
class BuyPlan(Message):
    actor: ClassVar[str] = "buy_plan"
    request_id: str
    address: str
    plan_id: str


@dataclass(frozen=True)
class AllocateVm(Message):
    actor: ClassVar[str] = "allocate_vm"
    request_id: str
    address: str


@dataclass(frozen=True)
class UpgradePlan(Message):
    actor: ClassVar[str] = "upgrade_plan"
    request_id: str
    address: str
    plan_id: str


@dataclass(frozen=True)
class SetPlanRenewal(Message):
    actor: ClassVar[str] = "set_plan_renewal"
    request_id: str
    address: str
    on: bool


@dataclass(frozen=True)
class ReleaseVm(Message):
    actor: ClassVar[str] = "release_vm"
    request_id: str
    address: str
    vm_id: str


@dataclass(frozen=True)
class ExpirePlans(Message):
    actor: ClassVar[str] = "expire_plans"


@dataclass(frozen=True)
class SuspendExhausted(Message):
    actor: ClassVar[str] = "suspend_exhausted"


# Usage (queue "usage").
@dataclass(frozen=True)
class ApplyUsageBatch(Message):
    actor: ClassVar[str] = "apply_usage_batch"
    records: list[dict[str, Any]]
    via: str


@dataclass(frozen=True)
class PullNode(Message):
    actor: ClassVar[str] = "pull_node"
    name: str


@dataclass(frozen=True)
class PullAll(Message):
    actor: ClassVar[str] = "pull_all"


@dataclass(frozen=True)
class RefreshTiers(Message):
    actor: ClassVar[str] = "refresh_tiers"


# Operators, identity checks, notifications.
@dataclass(frozen=True)
class AdminCommand(Message):
    actor: ClassVar[str] = "admin_command"
    envelope: dict[str, Any]


@dataclass(frozen=True)
class RecordKycResult(Message):
    actor: ClassVar[str] = "record_kyc_result"
    result: dict[str, Any]


@dataclass(frozen=True)
class CheckPendingKyc(Message):
    actor: ClassVar[str] = "check_pending_kyc"


@dataclass(frozen=True)
class SendNotifications(Message):
    actor: ClassVar[str] = "send_notifications"


#: Every declared message class, by its actor's name.
MESSAGES: dict[str, type[Message]] = {
    cls.actor: cls
    for cls in (
        ApplyPayment,
        RecordTopup,
        RecordPaymentFailure,
        NoteCheckout,
        CancelTopup,
        ApplyRefund,
        CreditFailedRefund,
        ConfirmClickpesaPayment,
        ReconcileClickpesaTopups,
        RetryParkedItems,
        EnsureAccount,
        SetEmail,
        SetLowBalance,
        SendEmailLink,
        VerifyEmail,
        SetEmailChoices,
        BuyPlan,
        AllocateVm,
        UpgradePlan,
        SetPlanRenewal,
        ReleaseVm,
        ExpirePlans,
        SuspendExhausted,
        ApplyUsageBatch,
        PullNode,
        PullAll,
        RefreshTiers,
        AdminCommand,
        RecordKycResult,
        CheckPendingKyc,
        SendNotifications,
    )
}


#: What senders are handed: ``actors.send`` in the product, a checking fake in tests.
Send = Callable[[Message], object]


class _Actor(Protocol):
    def send_with_options(self, *, kwargs: dict[str, Any]) -> Any: ...


class _Broker(Protocol):
    def get_actor(self, actor_name: str) -> _Actor: ...


def deliver(broker: _Broker, message: Message) -> Any:
    """Hand *message* to its actor on *broker*; the one place a name meets the broker.

    Raises:
        TypeError: *message* is not a declared ``Message`` (a string, a bare dict).
        dramatiq.errors.ActorNotFound: no actor of that name is declared on *broker*.
    """
    if not isinstance(message, Message) or type(message).actor not in MESSAGES:
        raise TypeError(f"message: not a declared message: {message!r}"[:200])
    return broker.get_actor(message.actor).send_with_options(kwargs=message.kwargs)


def message_named(actor: str, kwargs: dict[str, Any]) -> Message:
    """The message for *actor* built from *kwargs* (for tools that read names from data).

    Raises:
        KeyError: no message is declared for *actor*.
        TypeError: *kwargs* do not match its fields.
    """
    return MESSAGES[actor](**kwargs)
