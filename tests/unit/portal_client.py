"""Logged-in browsers and ledger lines for the portal page tests (statement, receipts)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import falcon.testing
import nacl.public

from actors.ledger import post
from models import Account, Billing, LedgerEntry
from tests.support.login import ALICE_KEY, address_of
from tests.unit.login_client import Browser, prove


def account_of(key: nacl.public.PrivateKey = ALICE_KEY) -> Account:
    """The account of *key*'s address, created with a zero balance when missing."""
    address = address_of(key)
    account, _ = Account.get_or_create(address=address)
    Billing.get_or_create(account=account)
    return account


def logged_in(
    client: falcon.testing.TestClient, key: nacl.public.PrivateKey = ALICE_KEY
) -> Browser:
    """A browser logged in as *key*'s address through the key proof."""
    browser = Browser(client)
    account_of(key)
    challenge = browser.start_login(address_of(key))
    prove(client, challenge, key)
    assert browser.get(f"/auth/challenges/{challenge['id']}").json["status"] == "logged_in"
    return browser


def entry(
    account: Account,
    amount_cents: int,
    *,
    kind: str = "adjustment",
    ref: str,
    at: dt.datetime | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Post one ledger entry (at *at*, naive UTC) and return its id."""
    posted = post(account, amount_cents=amount_cents, kind=kind, ref=ref, details=details)
    assert posted is not None
    if at is not None:
        LedgerEntry.update(created_at=at).where(LedgerEntry.id == posted.entry_id).execute()
    return posted.entry_id
