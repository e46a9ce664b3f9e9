"""Peewee models, database set-up, migrations, and the pure rules of money and addresses.

The names below are loaded on first use (PEP 562): importing a light submodule such as
``wire.otoml``, ``models.errors`` or ``wire.address`` does not load peewee, psycopg2
and every table, so the node agent, which needs only those, stays small.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.accounts import Account, Billing, LedgerEntry
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

#: Where each exported name lives.
_HOMES = {
    "models.accounts": ("Account", "Billing", "LedgerEntry"),
    "models.auth": ("LoginChallenge", "Session"),
    "models.db": (
        "DatabaseUnavailable",
        "check_database",
        "db",
        "init_database",
        "is_sqlite",
        "ping",
        "write_transaction",
    ),
    "models.migrations": ("ALL_MODELS", "migrate"),
    "models.ops": ("AdminAudit", "Alert", "Notification", "UnmatchedItem"),
    "models.payments": ("PaymentEvent", "TopUp"),
    "models.plans": ("ActionRequest", "PlanSubscription", "VmAllocation", "VmPoolSlot"),
    "models.usage": ("Node", "UsageRecord"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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
    "write_transaction",
]


def __getattr__(name: str) -> Any:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Keeps ``models.db`` the database proxy, as it always was, when the import system
    binds the submodule of that name on the package."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
