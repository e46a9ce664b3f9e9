"""The gateway test harness: an in-process gateway, a cookie-keeping browser, logged-in users.

One harness for every test of the gateway: ``make_app`` builds it with ``create_app`` as
the runtime does (sandbox payments, the settings' default policy, a checked ``send``),
each argument replaceable; ``Browser`` keeps cookies and the CSRF token, ``prove`` logs a
key in, ``logged_in`` and ``entry`` give a portal test a user and ledger lines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import falcon.testing
import nacl.public

from actors.ledger import post
from adapters.kyc import KycProvider
from adapters.payments import PaymentProvider
from adapters.payments.sandbox import SandboxProvider
from gateway.app import create_app
from gateway.auth.options import LoginOptions
from gateway.console import ConsoleOptions
from gateway.policy import Policy
from models import Account, Billing, LedgerEntry, ping
from tests.support.login import ALICE_KEY, address_of
from tests.support.message_contract import Sent as Sent
from tests.support.message_contract import check_message
from wire.keys import make_key_proof

SERVICE_KEY = nacl.public.PrivateKey(bytes(range(32)))
PUBLIC_URL = "http://hero.test"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
#: The policy the settings give by default (``HERO_SUSPEND_AFTER_S``, ``HERO_KYC_REQUIRED_FOR``).
DEFAULT_POLICY = Policy(suspend_after_s=86_400, kyc_required_for="none")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def make_app(
    clock: Callable[[], dt.datetime] | None = None,
    send: Callable[..., Any] = check_message,
    *,
    secure: bool = False,
    providers: Mapping[str, PaymentProvider] | None = None,
    webhook_providers: Mapping[str, PaymentProvider] | None = None,
    ready_checks: dict[str, Callable[[], None]] | None = None,
    public_url: str = PUBLIC_URL,
    policy: Policy = DEFAULT_POLICY,
    production: bool = False,
    metrics_token: str | None = None,
    console: ConsoleOptions | None = None,
    kyc: KycProvider | None = None,
) -> falcon.App[Any, Any]:
    """The gateway from ``create_app``: *send* gets every message (by default each is checked
    against its actor), *clock* is the login's, *providers* default to the sandbox."""
    if providers is None:
        providers = {"sandbox": SandboxProvider(public_url=public_url, webhook_secret="whsec_unit")}
    login = LoginOptions(service_key=SERVICE_KEY, secure_cookies=secure)
    return create_app(
        providers=providers,
        send=send,
        ready_checks={"database": ping} if ready_checks is None else ready_checks,
        public_url=public_url,
        login=login if clock is None else dataclasses.replace(login, clock=clock),
        policy=policy,
        webhook_providers=webhook_providers,
        production=production,
        metrics_token=metrics_token,
        console=console,
        kyc=kyc,
    )


class Browser:
    """A browser on the test client: keeps the cookies the gateway sets."""

    def __init__(self, client: falcon.testing.TestClient, ip: str = "198.51.100.7") -> None:
        self.client = client
        self.cookies: dict[str, str] = {}
        self.ip = ip
        self.last: falcon.testing.Result | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> falcon.testing.Result:
        result = self.client.simulate_request(
            method, path, cookies=dict(self.cookies), remote_addr=self.ip, **kwargs
        )
        for name, cookie in result.cookies.items():
            if cookie.value and (cookie.max_age is None or cookie.max_age > 0):
                self.cookies[name] = cookie.value
            else:
                self.cookies.pop(name, None)
        self.last = result
        return result

    def get(self, path: str, headers: dict[str, str] | None = None) -> falcon.testing.Result:
        return self.request("GET", path, headers=headers or JSON)

    def post_form(
        self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> falcon.testing.Result:
        headers = {**FORM, **(headers or JSON)}
        return self.request("POST", path, body=urlencode(form), headers=headers)

    def csrf(self) -> str:
        """The token this browser's forms carry (after a page set it)."""
        if "hero_session" in self.cookies:
            return str(self.get("/auth/session").json["csrf_token"])
        if "hero_csrf" not in self.cookies:
            self.get("/login", headers=HTML)
        return self.cookies["hero_csrf"]

    def start_login(self, address: str) -> dict[str, Any]:
        result = self.post_form("/auth/challenges", {"address": address, "csrf_token": self.csrf()})
        assert result.status_code == 201, result.text
        challenge: dict[str, Any] = result.json
        return challenge


def prove(
    client: falcon.testing.TestClient,
    challenge: dict[str, Any],
    key: nacl.public.PrivateKey,
    *,
    code: str | None = None,
    reference: str | None = None,
) -> falcon.testing.Result:
    """Post a key proof from anywhere (no cookies)."""
    pubkey, box = make_key_proof(key, bytes(SERVICE_KEY.public_key), code or challenge["code"])
    return client.simulate_post(
        f"/auth/challenges/{reference or challenge['id']}/proof",
        json={"pubkey": pubkey, "box": box},
        headers=JSON,
    )


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
