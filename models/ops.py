"""What operators look at: the audit of their actions, alerts, and unmatched items."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import peewee

from models.accounts import Account
from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.times import utcnow


class AdminAudit(BaseModel):
    """Every operator action tried, applied or refused, with who signed it."""

    nonce = peewee.CharField(max_length=64, unique=True)
    action = peewee.CharField(max_length=32)
    args = peewee.TextField(default="{}")
    operator_pubkey = peewee.CharField(max_length=64, null=True)
    #: applied | refused
    outcome = peewee.CharField(max_length=16)
    reason = peewee.TextField(default="")
    result = peewee.TextField(default="{}")
    created_at = UtcDateTimeField(default=utcnow, index=True)


class Alert(BaseModel):
    """Something an operator must look at (force-push, bad signature, quarantined file)."""

    kind = peewee.CharField(max_length=32, index=True)
    subject = peewee.CharField(max_length=200, default="")
    message = peewee.TextField()
    details = peewee.TextField(default="{}")
    created_at = UtcDateTimeField(default=utcnow, index=True)
    resolved_at = UtcDateTimeField(null=True)


class UnmatchedItem(BaseModel):
    """A payment or usage record for no known account: kept, listed, applied when resolved."""

    source = peewee.CharField(max_length=16)  # payment | refund | usage
    ref = peewee.CharField(max_length=200)
    address = peewee.CharField(max_length=64, null=True)
    reason = peewee.TextField()
    payload = peewee.TextField()
    created_at = UtcDateTimeField(default=utcnow)
    resolved_at = UtcDateTimeField(null=True, index=True)
    attempts = peewee.IntegerField(default=0)

    class Meta:
        indexes = ((("source", "ref"), True),)


class Notification(BaseModel):
    """Something to tell a user (email), written once per (kind, key) and sent later."""

    account = peewee.ForeignKeyField(Account, backref="notifications", on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)  # payment_credited | low_balance | tier_reached | ...
    key = peewee.CharField(max_length=200)
    payload = peewee.TextField(default="{}")
    created_at = UtcDateTimeField(default=utcnow)
    sent_at = UtcDateTimeField(null=True, index=True)

    class Meta:
        indexes = ((("kind", "key"), True),)


@dataclass(frozen=True)
class Notice:
    """A notification to write: once per (*kind*, *key*), whatever number of times asked."""

    account_id: int
    kind: str
    key: str
    payload: Mapping[str, Any]


def notify(*notices: Notice, now: dt.datetime | None = None) -> int:
    """Write *notices* in one statement, each unless its (kind, key) is already written.

    The payload is stored as JSON with sorted keys; ``created_at`` is *now* (by default
    the current time). The caller's transaction holds the write with what caused it.

    Returns:
        How many of *notices* this call wrote (the others were there already).
    """
    if not notices:
        return 0
    created_at = now or utcnow()
    rows = [
        {
            "account": n.account_id,
            "kind": n.kind,
            "key": n.key,
            "payload": json.dumps(n.payload, sort_keys=True, default=str),
            "created_at": created_at,
        }
        for n in notices
    ]
    return int(
        Notification.insert_many(rows)
        .on_conflict(action="NOTHING", conflict_target=[Notification.kind, Notification.key])
        .as_rowcount()
        .execute()
    )
