"""Log a ``requests.Session`` in to a running gateway through the key proof.

user = login(session, url)                  # Alice's RFC 7748 key by default
session.post(f"{url}/topup", data={..., "csrf_token": user.csrf_token})
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import nacl.public
import requests

from wire.address import derive_address
from wire.keys import make_key_proof

#: RFC 7748 section 6.1 private keys; their addresses are pinned in tests/unit/test_address.py.
ALICE_KEY = nacl.public.PrivateKey(
    bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
)
BOB_KEY = nacl.public.PrivateKey(
    bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
)
#: Alice's address: the ADDRESS most tests use.
ALICE_ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
JSON = {"Accept": "application/json"}


@dataclass(frozen=True)
class LoggedIn:
    """A logged-in session's address and the CSRF token its POSTs carry."""

    address: str
    csrf_token: str


def address_of(key: nacl.public.PrivateKey) -> str:
    return str(derive_address(bytes(key.public_key)))


def start_challenge(session: requests.Session, url: str, address: str) -> dict[str, Any]:
    """Ask for a login challenge as a browser would (the login page's CSRF cookie first)."""
    session.get(f"{url}/login", timeout=30)
    answer = session.post(
        f"{url}/auth/challenges",
        data={"address": address, "csrf_token": session.cookies.get("hero_csrf") or ""},
        headers=JSON,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    challenge: dict[str, Any] = answer.json()
    return challenge


def prove_with_key(
    url: str, challenge: dict[str, Any], key: nacl.public.PrivateKey, *, code: str | None = None
) -> requests.Response:
    """Post the key proof of *challenge* made with *key* (from anywhere: no cookies)."""
    pubkey, box = make_key_proof(
        key, bytes.fromhex(challenge["service_pubkey"]), code or challenge["code"]
    )
    return requests.post(
        f"{url}/auth/challenges/{challenge['id']}/proof",
        json={"pubkey": pubkey, "box": box},
        headers=JSON,
        timeout=30,
    )


def challenge_status(session: requests.Session, url: str, challenge_id: str) -> dict[str, Any]:
    answer = session.get(f"{url}/auth/challenges/{challenge_id}", headers=JSON, timeout=30)
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


def session_info(session: requests.Session, url: str) -> requests.Response:
    return session.get(f"{url}/auth/session", headers=JSON, timeout=30)


def login(
    session: requests.Session,
    url: str,
    key: nacl.public.PrivateKey = ALICE_KEY,
    *,
    wait_for_account: bool = True,
    timeout: float = 30,
) -> LoggedIn:
    """Log *session* in as *key*'s address through the key proof.

    With *wait_for_account*, wait until a worker has created the account (first login).
    """
    challenge = start_challenge(session, url, address_of(key))
    proof = prove_with_key(url, challenge, key)
    assert proof.status_code == 200, proof.text
    status = challenge_status(session, url, challenge["id"])
    assert status["status"] == "logged_in", status
    deadline = time.monotonic() + timeout
    while True:
        info = session_info(session, url)
        assert info.status_code == 200, info.text
        state = info.json()
        if state["account_ready"] or not wait_for_account:
            return LoggedIn(address=state["address"], csrf_token=state["csrf_token"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"no account for {state['address']} after {timeout} s")
        time.sleep(0.1)
