"""Versioned schema migrations.

A fresh database gets every table from the current models and is stamped with the
latest version (a baseline). An older database runs each migration above its version,
in order, each in its own transaction. To change the schema: change the model, then
append a migration here that brings an existing database to the same shape
(``playhouse.migrate``), and bump nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import peewee

from models.accounts import Account, Billing, LedgerEntry
from models.auth import LoginChallenge, Session
from models.db import BaseModel, db
from models.ops import AdminAudit, Alert, Notification, UnmatchedItem
from models.payments import PaymentEvent, TopUp
from models.plans import ActionRequest, PlanSubscription, VmAllocation, VmPoolSlot
from models.usage import Node, UsageRecord

#: Every table, in creation order (foreign keys after their targets).
ALL_MODELS: tuple[type[BaseModel], ...] = (
    Account,
    Billing,
    LedgerEntry,
    TopUp,
    PaymentEvent,
    Node,
    UsageRecord,
    PlanSubscription,
    VmPoolSlot,
    VmAllocation,
    LoginChallenge,
    Session,
    AdminAudit,
    Alert,
    UnmatchedItem,
    Notification,
    ActionRequest,
)


class SchemaVersion(BaseModel):
    """The schema version this database is at (one row)."""

    version = peewee.IntegerField()


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[], None]


def _baseline() -> None:
    db.create_tables(ALL_MODELS, safe=True)


#: The ordered history of the schema. Version 1 is the first released schema.
MIGRATIONS: tuple[Migration, ...] = (Migration(1, "initial schema", _baseline),)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version() -> int | None:
    """The schema version of the bound database, or None when it has no schema."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else None


def migrate() -> list[str]:
    """Create or upgrade the schema of the bound database; return what was done.

    Raises:
        RuntimeError: the database is newer than this code.
    """
    done: list[str] = []
    with db.atomic():
        db.create_tables([SchemaVersion], safe=True)
        version = current_version()
        if version is None:
            _baseline()
            SchemaVersion.create(version=LATEST_VERSION)
            return [f"created schema at version {LATEST_VERSION}"]
    if version > LATEST_VERSION:
        raise RuntimeError(
            f"database schema is version {version}, newer than this code ({LATEST_VERSION})"
        )
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        with db.atomic():
            migration.apply()
            SchemaVersion.update(version=migration.version).execute()
        done.append(f"applied {migration.version}: {migration.description}")
    return done or [f"schema is up to date at version {version}"]
