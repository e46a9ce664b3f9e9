"""Identity verification (KYC): each account's gate state and the history behind it.

Only what the gate needs is kept: the provider's reference (``scanRef``), status and
reason codes. No names, birth dates, document numbers or images, ever.
"""

from __future__ import annotations

import peewee

from models.accounts import Account
from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.times import utcnow

#: Gate states. ``none``: never started; ``pending``: a session is open or under review.
STATES = ("none", "pending", "approved", "denied", "suspected", "expired", "cancelled")


class KycVerification(BaseModel):
    """An account's current verification: one row per account."""

    account = peewee.ForeignKeyField(Account, unique=True, on_delete="RESTRICT")
    account_id: int  # peewee's id accessor of the foreign key, declared for type checkers
    #: Our opaque id for the person at the provider (random; never an address or email).
    client_id = peewee.CharField(max_length=64, unique=True)
    provider = peewee.CharField(max_length=16)
    status = peewee.CharField(max_length=16, default="none")
    #: How decided the status is: 0 started, 1 preliminary, 2 final, 3 manual final,
    #: 4 operator. A result never replaces one of a higher rank for the same session.
    rank = peewee.SmallIntegerField(default=0)
    scan_ref = peewee.CharField(max_length=64, null=True, index=True)
    #: Where the user continues the open session (the provider's page), while pending.
    redirect_url = peewee.CharField(max_length=500, null=True)
    session_expires_at = UtcDateTimeField(null=True)
    #: Reason codes of the deciding result, JSON list (e.g. ``["DOC_EXPIRED"]``).
    reasons = peewee.TextField(default="[]")
    decided_by = peewee.CharField(max_length=16, default="provider")  # provider | operator
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)


class KycEvent(BaseModel):
    """One result a provider (or an operator) reported; unique by its digest."""

    account = peewee.ForeignKeyField(Account, null=True, on_delete="RESTRICT")
    account_id: int | None
    #: SHA-256 of the raw webhook body (or of the operator action's nonce).
    digest = peewee.CharField(max_length=64, unique=True)
    source = peewee.CharField(max_length=16)  # idenfy | sandbox | operator
    event_type = peewee.CharField(max_length=40)
    scan_ref = peewee.CharField(max_length=64, null=True, index=True)
    client_id = peewee.CharField(max_length=100, null=True)
    final = peewee.BooleanField(null=True)
    overall = peewee.CharField(max_length=16, null=True)
    auto_document = peewee.CharField(max_length=40, null=True)
    auto_face = peewee.CharField(max_length=40, null=True)
    manual_document = peewee.CharField(max_length=40, null=True)
    manual_face = peewee.CharField(max_length=40, null=True)
    #: fraudTags, mismatchTags and legacy suspicionReasons, JSON lists.
    tags = peewee.TextField(default="{}")
    #: What the event did to the gate: applied | ignored (older or lower rank) | unmatched.
    effect = peewee.CharField(max_length=16)
    #: The state the gate moved to (when applied) and an operator's reason.
    state = peewee.CharField(max_length=16, null=True)
    note = peewee.TextField(null=True)
    received_at = UtcDateTimeField(default=utcnow)
