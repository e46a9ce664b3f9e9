"""What ClickPesa's call limit needs kept across processes: calls per day, the token,
and when each waiting top-up is next re-queried."""

from __future__ import annotations

import peewee

from models.db import BaseModel
from models.fields import UtcDateTimeField


class ProviderCallDay(BaseModel):
    """How many calls were made to a provider on one UTC day (every process counts here)."""

    provider = peewee.CharField(max_length=16)
    day = peewee.DateField()
    calls = peewee.IntegerField(default=0)

    class Meta:
        indexes = ((("provider", "day"), True),)


class ProviderToken(BaseModel):
    """A provider's current API token, shared by every process until it expires."""

    provider = peewee.CharField(max_length=16, unique=True)
    token = peewee.TextField()
    expires_at = UtcDateTimeField()


class PaymentCheck(BaseModel):
    """The re-query schedule of one waiting top-up: attempts so far, when next, or why not."""

    topup_public_id = peewee.CharField(max_length=40, unique=True)
    attempts = peewee.IntegerField(default=0)
    next_check_at = UtcDateTimeField(index=True)
    last_outcome = peewee.CharField(max_length=32, default="")
    #: None while re-queried; "abandoned" once ClickPesa long knew no payment for it.
    stopped = peewee.CharField(max_length=16, null=True)
