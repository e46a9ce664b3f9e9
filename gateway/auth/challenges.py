"""Login challenges in the database: create, find, prove, claim, and the shared rate limits.

Rate limits count rows, so every gateway sees the same numbers (no state in memory). None
is keyed on the claimed address alone: anyone may claim any address, so such a limit would
let a stranger lock its owner out. They count per client IP, per browser (the binding
token a challenge is bound to) and per challenge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import peewee

from gateway.auth.proofs import (
    MAX_FAILED_PROOFS_PER_CHALLENGE,
    ChallengeView,
    RateLimited,
    Verdict,
    new_code,
    normalize_code,
)
from models import LoginChallenge

#: The window rate limits count in, in seconds.
LIMIT_WINDOW_S = 600
#: Challenges one client IP may ask for in the window.
MAX_CHALLENGES_PER_IP = 20
#: Challenges one client IP may ask for one address in the window.
MAX_CHALLENGES_PER_ADDRESS_AND_IP = 10
#: Failed proofs against the challenges of one browser in the window.
MAX_FAILED_PROOFS_PER_BROWSER = 10
#: Failed proofs against the challenges asked for from one client IP in the window.
MAX_FAILED_PROOFS_PER_IP = 30
#: Prefix of challenge ids; codes never contain ``_``, so a reference is one or the other.
CHALLENGE_ID_PREFIX = "ch_"


def sha256_hex(token: str) -> str:
    """The hex sha256 of a token: what is stored instead of the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def view(row: LoginChallenge) -> ChallengeView:
    """The rules' view of a stored challenge."""
    return ChallengeView(
        id=row.id,
        public_id=row.public_id,
        address=row.address,
        code=row.code,
        expires_at=row.expires_at,
        proven_at=row.proven_at,
        used_at=row.used_at,
        failed_attempts=row.failed_attempts,
        browser_hash=row.browser_hash,
        client_ip=row.client_ip,
    )


def check_new_challenge(*, client_ip: str, address: str, now: dt.datetime) -> None:
    """Refuse a new challenge when this client asked too often (for this address or any).

    Raises:
        RateLimited: saying what to wait for.
    """
    since = now - dt.timedelta(seconds=LIMIT_WINDOW_S)
    recent = LoginChallenge.select().where(LoginChallenge.created_at > since)
    if recent.where(LoginChallenge.client_ip == client_ip).count() >= MAX_CHALLENGES_PER_IP:
        raise RateLimited(
            "Too many login attempts from your network. Wait 10 minutes and try again.",
            retry_after_s=LIMIT_WINDOW_S,
        )
    mine = recent.where(LoginChallenge.client_ip == client_ip)
    if mine.where(LoginChallenge.address == address).count() >= MAX_CHALLENGES_PER_ADDRESS_AND_IP:
        raise RateLimited(
            "Too many logins were started for this address from your network. Wait 10 "
            "minutes and try again.",
            retry_after_s=LIMIT_WINDOW_S,
        )


def check_proof_attempts(challenge: ChallengeView, *, now: dt.datetime) -> None:
    """Refuse a proof when its challenge, its browser or its client IP failed too often.

    The browser and the IP are those that asked for the challenge, so a stranger's failures
    on their own challenges for an address never stop its owner's fresh challenge.

    Raises:
        RateLimited: saying what to wait for.
    """
    if challenge.failed_attempts >= MAX_FAILED_PROOFS_PER_CHALLENGE:
        raise RateLimited(
            "Too many failed attempts for this login. Start a new login in a few minutes.",
            retry_after_s=LIMIT_WINDOW_S,
        )
    since = now - dt.timedelta(seconds=LIMIT_WINDOW_S)
    if _failed_since(LoginChallenge.browser_hash == challenge.browser_hash, since) >= (
        MAX_FAILED_PROOFS_PER_BROWSER
    ):
        raise RateLimited(
            "Too many failed login attempts from this browser. Wait 10 minutes and try again.",
            retry_after_s=LIMIT_WINDOW_S,
        )
    if _failed_since(LoginChallenge.client_ip == challenge.client_ip, since) >= (
        MAX_FAILED_PROOFS_PER_IP
    ):
        raise RateLimited(
            "Too many failed login attempts from your network. Wait 10 minutes and try again.",
            retry_after_s=LIMIT_WINDOW_S,
        )


def _failed_since(which: peewee.Expression, since: dt.datetime) -> int:
    failed = (
        LoginChallenge.select(peewee.fn.COALESCE(peewee.fn.SUM(LoginChallenge.failed_attempts), 0))
        .where(which & (LoginChallenge.created_at > since))
        .scalar()
    )
    return int(failed or 0)


def create_challenge(
    *, address: str, browser_token: str, client_ip: str, ttl_s: int, now: dt.datetime
) -> LoginChallenge:
    """Store a new challenge for *address*, bound to the browser holding *browser_token*."""
    row: LoginChallenge = LoginChallenge.create(
        public_id=CHALLENGE_ID_PREFIX + secrets.token_hex(16),
        address=address,
        code=new_code(),
        browser_hash=sha256_hex(browser_token),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_s),
        client_ip=client_ip[:64],
    )
    return row


def find(reference: str) -> LoginChallenge | None:
    """The challenge with this id, or with this code (the newest), or None."""
    reference = (reference or "").strip()
    if reference.startswith(CHALLENGE_ID_PREFIX):
        found: LoginChallenge | None = LoginChallenge.get_or_none(
            LoginChallenge.public_id == reference
        )
        return found
    code = normalize_code(reference)
    if code is None:
        return None
    newest: LoginChallenge | None = (
        LoginChallenge.select()
        .where(LoginChallenge.code == code)
        .order_by(LoginChallenge.id.desc())
        .first()
    )
    return newest


def find_for_browser(public_id: str, browser_token: str | None) -> LoginChallenge | None:
    """The challenge *public_id* when *browser_token* is the one it is bound to, else None."""
    row = LoginChallenge.get_or_none(LoginChallenge.public_id == public_id)
    if row is None or not browser_token:
        return None
    if not secrets.compare_digest(row.browser_hash, sha256_hex(browser_token)):
        return None
    return row


def with_code(code: str) -> list[ChallengeView]:
    """Every challenge with *code* (normally one)."""
    return [view(r) for r in LoginChallenge.select().where(LoginChallenge.code == code)]


def apply_verdict(verdict: Verdict, *, proven_by: str, now: dt.datetime) -> bool:
    """Store a verdict: mark the challenge proven, or count a failed attempt.

    Returns:
        Whether the challenge is now proven by this verdict (a race lost returns False).
    """
    if verdict.challenge_id is None:
        return False
    if verdict.failed:
        LoginChallenge.update(failed_attempts=LoginChallenge.failed_attempts + 1).where(
            LoginChallenge.id == verdict.challenge_id
        ).execute()
        return False
    if not verdict.accepted:
        return False
    updated = (
        LoginChallenge.update(proven_at=now, proven_by=proven_by)
        .where(
            (LoginChallenge.id == verdict.challenge_id)
            & LoginChallenge.proven_at.is_null()
            & LoginChallenge.used_at.is_null()
            & (LoginChallenge.expires_at > now)
        )
        .execute()
    )
    return bool(updated)


def claim(challenge_id: int, *, now: dt.datetime) -> bool:
    """Mark a proven challenge used; True for exactly one caller, whoever races.

    Call it in the transaction that starts the session, so both happen or neither.
    """
    updated = (
        LoginChallenge.update(used_at=now)
        .where(
            (LoginChallenge.id == challenge_id)
            & LoginChallenge.proven_at.is_null(False)
            & LoginChallenge.used_at.is_null()
        )
        .execute()
    )
    return bool(updated)
