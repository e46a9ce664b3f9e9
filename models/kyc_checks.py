"""The one status call the scheduler makes for a session whose webhook never came.

A row per ``scanRef`` the scheduled job took up: how many calls it made (a call that got
no usable answer is tried again by a later run, at most ``MAX_ATTEMPTS`` in all) and how
it ended. A session with a row that is not ``retry`` is never asked about again by the
job; ``hero-admin kyc check`` asks whenever an operator wants. When the answer arrived is
the ``received_at`` of its ``KycEvent``; a failure also raises an alert.
"""

from __future__ import annotations

import peewee

from models.accounts import Account
from models.db import BaseModel

#: Calls the job makes for one session at most (no answer, a timeout, a 5xx or a 429).
MAX_ATTEMPTS = 3
#: How a check ended: ``calling`` (taken up), ``retry`` (to be tried again), ``answered``
#: (handed to ``record_kyc_result``), ``failed`` (left for an operator: see the alert).
OUTCOMES = ("calling", "retry", "answered", "failed")


class KycStatusCheck(BaseModel):
    """The scheduled status call for one session (``scan_ref``)."""

    scan_ref = peewee.CharField(max_length=64, unique=True)
    account = peewee.ForeignKeyField(Account, on_delete="RESTRICT")
    account_id: int
    attempts = peewee.SmallIntegerField(default=0)
    outcome = peewee.CharField(max_length=16, default="calling")
    #: The status iDenfy gave, or why the call failed.
    note = peewee.TextField(null=True)
