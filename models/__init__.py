"""Peewee models, database set-up, migrations, and the pure rules of money and addresses."""

from __future__ import annotations

from models.accounts import Account, Billing, LedgerEntry, utcnow
from models.auth import LoginChallenge, Session
from models.db import (
    DatabaseUnavailable,
    check_database,
    db,
    init_database,
    is_sqlite,
    ping,
    write_transaction,
)
from models.migrations import ALL_MODELS, migrate
from models.ops import AdminAudit, Alert, Notification, UnmatchedItem
from models.payments import PaymentEvent, TopUp
from models.plans import ActionRequest, PlanSubscription, VmAllocation, VmPoolSlot
from models.usage import Node, UsageRecord

__all__ = [
    "ALL_MODELS",
    "ActionRequest",
    "DatabaseUnavailable",
    "Account",
    "AdminAudit",
    "Alert",
    "Billing",
    "check_database",
    "LedgerEntry",
    "LoginChallenge",
    "Node",
    "Notification",
    "PaymentEvent",
    "PlanSubscription",
    "Session",
    "TopUp",
    "UnmatchedItem",
    "UsageRecord",
    "VmAllocation",
    "VmPoolSlot",
    "db",
    "init_database",
    "is_sqlite",
    "migrate",
    "ping",
    "utcnow",
    "write_transaction",
]
