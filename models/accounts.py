"""Accounts, their billing projection and the ledger that explains it."""

from __future__ import annotations

import re

import peewee

from models.db import BaseModel
from models.errors import InvalidEmail
from models.fields import UtcDateTimeField
from wire.times import utcnow

#: Longest email address accepted (RFC 5321's path limit less the angle brackets).
MAX_EMAIL_LENGTH = 254
#: Under this balance an account is warned (the default of ``Billing.low_balance_cents``).
DEFAULT_LOW_BALANCE_CENTS = 500
#: The highest low-balance threshold a user may set ($1,000.00).
MAX_LOW_BALANCE_CENTS = 100_000
#: Characters of the part before the @: RFC 5322's atext less the backquote, and the dot.
#: No brackets, angle brackets, quotes or spaces, so an address is never markup anywhere.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_{|}~.-]{1,64}$")
#: One DNS label: letters, digits and inner hyphens, 1 to 63 characters.
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_email(text: str) -> str:
    """*text* as an email address to store: trimmed, its domain lower-cased.

    ASCII only (an international domain goes in its ``xn--`` form), one ``@``, a
    domain of at least two DNS labels; no spaces, control characters or markup.

    Raises:
        InvalidEmail: saying what is wrong with *text*.
    """
    email = text.strip()
    if not email:
        raise InvalidEmail("is empty")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"is {len(email)} characters long; the limit is {MAX_EMAIL_LENGTH}")
    if any(not ch.isprintable() or ch.isspace() for ch in email):
        raise InvalidEmail("contains spaces or control characters")
    if not email.isascii():
        raise InvalidEmail("must be ASCII; write an international domain in its xn-- form")
    if email.count("@") != 1:
        raise InvalidEmail(f"must contain exactly one @, not {email.count('@')}")
    local, domain = email.split("@")
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail(
            "the part before the @ must be 1 to 64 letters, digits or "
            "!#$%&'*+/=?^_{|}~.- with no leading, trailing or double dot"
        )
    labels = domain.lower().split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidEmail("the part after the @ must be a domain like example.com")
    if labels[-1].isdigit():
        raise InvalidEmail("the domain must end in a name, not a number")
    return f"{local}@{'.'.join(labels)}"


class Account(BaseModel):
    """A person, known by the Mycelium address they proved (canonical text)."""

    address = peewee.CharField(max_length=64, unique=True)
    email = peewee.CharField(max_length=254, null=True)
    #: When ``email`` was proven by its link; None: no mail but the link goes to it.
    email_verified_at = UtcDateTimeField(null=True)
    #: Kinds of email the user turned off, comma-separated (see ``models.email_prefs``).
    muted_kinds = peewee.CharField(max_length=200, default="")
    created_at = UtcDateTimeField(default=utcnow)


class Billing(BaseModel):
    """The balance and billing facts of an account: a projection of its ledger."""

    account = peewee.ForeignKeyField(Account, unique=True, backref="billing", on_delete="CASCADE")
    account_id: int  # peewee's id accessor of the foreign key, declared for type checkers
    balance_cents = peewee.BigIntegerField(default=0)
    lifetime_paid_cents = peewee.BigIntegerField(default=0)
    first_paid_at = UtcDateTimeField(null=True)
    discount_tier = peewee.CharField(max_length=16, default="none")
    overdrawn = peewee.BooleanField(default=False)
    #: Discounted usage not yet charged as a whole cent, in quarter-cents (0..3).
    usage_carry = peewee.BigIntegerField(default=0)
    #: Under this balance the account is ``low``: warned on the dashboard and emailed once
    #: per crossing (the user sets it; 0 turns the warning off).
    low_balance_cents = peewee.BigIntegerField(default=DEFAULT_LOW_BALANCE_CENTS)
    updated_at = UtcDateTimeField(default=utcnow)


#: Kinds of ledger entry.
LEDGER_KINDS = ("payment", "refund", "usage", "plan_purchase", "adjustment")


class LedgerEntry(BaseModel):
    """One signed change of a balance, unique by (kind, ref)."""

    account = peewee.ForeignKeyField(Account, backref="ledger", on_delete="RESTRICT")
    amount_cents = peewee.BigIntegerField()
    kind = peewee.CharField(max_length=16, choices=[(k, k) for k in LEDGER_KINDS])
    ref = peewee.CharField(max_length=200)
    balance_after_cents = peewee.BigIntegerField()
    created_at = UtcDateTimeField(default=utcnow, index=True)
    details = peewee.TextField(default="{}")

    class Meta:
        indexes = ((("kind", "ref"), True), (("account", "id"), False))
