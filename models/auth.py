"""Login challenges and sessions: the only rows the gateway writes itself."""

from __future__ import annotations

import peewee

from models.db import BaseModel
from models.fields import UtcDateTimeField
from wire.times import utcnow


class LoginChallenge(BaseModel):
    """A one-time code a browser asked for, to prove control of an address."""

    public_id = peewee.CharField(max_length=40, unique=True)
    address = peewee.CharField(max_length=64, index=True)
    code = peewee.CharField(max_length=32, index=True)
    #: sha256 of the asking browser's binding token.
    browser_hash = peewee.CharField(max_length=64)
    created_at = UtcDateTimeField(default=utcnow)
    expires_at = UtcDateTimeField()
    proven_at = UtcDateTimeField(null=True)
    used_at = UtcDateTimeField(null=True)
    failed_attempts = peewee.IntegerField(default=0)
    #: Where the asking browser came from (rate limits count challenges per client).
    client_ip = peewee.CharField(max_length=64, default="", index=True)
    #: How it was proven: "message" (Mycelium message) or "key" (key proof).
    proven_by = peewee.CharField(max_length=16, null=True)


class Session(BaseModel):
    """A logged-in browser: the cookie holds a token, the row holds its hash.

    It names the proven address, not the account row: the account is created by an actor
    (``ensure_account``) when a new address first logs in.
    """

    token_hash = peewee.CharField(max_length=64, unique=True)
    address = peewee.CharField(max_length=64, index=True)
    csrf_token = peewee.CharField(max_length=64)
    created_at = UtcDateTimeField(default=utcnow)
    expires_at = UtcDateTimeField()
    ended_at = UtcDateTimeField(null=True)
    #: When the browser last used it (updated at most once a minute).
    last_seen_at = UtcDateTimeField(null=True)
    #: The browser's User-Agent when it logged in, cut to 200 characters.
    user_agent = peewee.CharField(max_length=200, default="")
