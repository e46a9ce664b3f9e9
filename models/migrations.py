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
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as migrate_schema

from models.accounts import Account, Billing, LedgerEntry
from models.auth import LoginChallenge, Session
from models.clickpesa import PaymentCheck, ProviderCallDay, ProviderToken
from models.credit import CreditState
from models.db import BaseModel, db
from models.email_prefs import EmailVerification
from models.kyc import KycEvent, KycVerification
from models.kyc_checks import KycStatusCheck
from models.ops import AdminAudit, Alert, Notification, UnmatchedItem
from models.payments import PaymentEvent, TopUp
from models.plans import (
    ONE_ACTIVE_PLAN_INDEX,
    ActionRequest,
    PlanSubscription,
    VmAllocation,
    VmPoolSlot,
)
from models.usage import Node, UsageRecord
from wire.times import utcnow

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
    ProviderCallDay,
    ProviderToken,
    PaymentCheck,
    KycVerification,
    KycEvent,
    CreditState,
    EmailVerification,
    KycStatusCheck,
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


def _request_ids_per_account() -> None:
    """Request ids unique per account instead of across accounts, and one active plan per
    account. Older duplicate active plans (bought by concurrent requests before this
    constraint) are expired, their VMs returned to the pool, and an alert names each one
    for an operator to refund."""
    migrator = SchemaMigrator.from_database(db.obj)
    for table, owner in (
        ("action_request", "address"),
        ("plan_subscription", "account_id"),
        ("vm_allocation", "account_id"),
    ):
        migrate_schema(
            migrator.drop_index(table, f"{table}_request_id"),
            migrator.add_index(table, (owner, "request_id"), unique=True),
        )
    newest = (
        PlanSubscription.select(peewee.fn.MAX(PlanSubscription.id))
        .where(PlanSubscription.status == "active")
        .group_by(PlanSubscription.account)
    )
    for plan in PlanSubscription.select().where(
        (PlanSubscription.status == "active") & PlanSubscription.id.not_in(newest)
    ):
        held = VmAllocation.select(VmAllocation.slot).where(
            (VmAllocation.subscription == plan) & VmAllocation.released_at.is_null()
        )
        VmPoolSlot.update(status="free").where(VmPoolSlot.id.in_(held)).execute()
        VmAllocation.update(released_at=utcnow()).where(
            (VmAllocation.subscription == plan) & VmAllocation.released_at.is_null()
        ).execute()
        PlanSubscription.update(status="expired").where(PlanSubscription.id == plan.id).execute()
        Alert.create(
            kind="duplicate_plan",
            subject=str(plan.account_id),
            message=(
                f"account {plan.account_id} had two active plans; plan {plan.id} "
                f"({plan.plan_id}, {plan.price_cents} cents) was ended: refund it"
            ),
            created_at=utcnow(),
        )
    db.execute_sql(
        f"CREATE UNIQUE INDEX {ONE_ACTIVE_PLAN_INDEX} ON plan_subscription (account_id) "
        "WHERE status = 'active'"
    )


def _payment_call_budget() -> None:
    db.create_tables([ProviderCallDay, ProviderToken, PaymentCheck], safe=True)


def _credit_state() -> None:
    db.create_tables([CreditState], safe=True)


def _kyc() -> None:
    db.create_tables([KycVerification, KycEvent], safe=True)


def _add_column(table: str, column: str, field: peewee.Field) -> None:
    """Add *column* to *table* unless it is there already (a database created from newer
    models, or a step interrupted after its DDL on a database without transactional DDL)."""
    if column in {c.name for c in db.get_columns(table)}:
        return
    migrate_schema(SchemaMigrator.from_database(db.obj).add_column(table, column, field))


def _plan_renewal() -> None:
    _add_column("plan_subscription", "auto_renew", PlanSubscription.auto_renew)


def _low_balance_threshold() -> None:
    _add_column("billing", "low_balance_cents", Billing.low_balance_cents)


def _portal_account() -> None:
    _add_column("top_up", "checkout_url", TopUp.checkout_url)
    _add_column("session", "last_seen_at", Session.last_seen_at)
    _add_column("session", "user_agent", Session.user_agent)
    _add_column("account", "email_verified_at", Account.email_verified_at)
    _add_column("account", "muted_kinds", Account.muted_kinds)
    db.create_tables([EmailVerification], safe=True)


def _kyc_status_checks() -> None:
    db.create_tables([KycStatusCheck], safe=True)


#: The ordered history of the schema. Version 1 is the first released schema.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _baseline),
    Migration(2, "request ids per account; one active plan per account", _request_ids_per_account),
    Migration(3, "provider calls per day, shared token, re-query schedule", _payment_call_budget),
    Migration(4, "identity verification: gate state and result history", _kyc),
    Migration(5, "credit state per account, published to hosts", _credit_state),
    Migration(6, "plans renew themselves when their owner opts in", _plan_renewal),
    Migration(7, "a low-balance threshold per account", _low_balance_threshold),
    Migration(
        8,
        "resumable top-ups, sessions last seen, verified emails and email choices",
        _portal_account,
    ),
    Migration(9, "the one status call for a session whose webhook never came", _kyc_status_checks),
)

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
