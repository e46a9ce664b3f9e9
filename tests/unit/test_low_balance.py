"""The low-balance threshold: per account, set through an actor, and what it changes."""

from __future__ import annotations

from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as migrate_schema

from models import Account, Billing, db
from models.accounts import DEFAULT_LOW_BALANCE_CENTS
from models.migrations import LATEST_VERSION, SchemaVersion, migrate

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def test_an_older_database_gets_the_threshold_column_at_its_default(sqlite_db: str) -> None:
    # Given a version-6 database with an account's billing row and no threshold column
    account = Account.create(address=USER)
    Billing.create(account=account, balance_cents=1234)
    migrate_schema(SchemaMigrator.from_database(db.obj).drop_column("billing", "low_balance_cents"))
    SchemaVersion.update(version=6).execute()

    done = migrate()

    assert done[0] == "applied 7: a low-balance threshold per account"
    assert SchemaVersion.get().version == LATEST_VERSION
    billing = Billing.get()
    assert billing.low_balance_cents == DEFAULT_LOW_BALANCE_CENTS
    assert billing.balance_cents == 1234
