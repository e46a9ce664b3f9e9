"""The pure rules of a login: codes, and whether a Mycelium message or a key proof proves one.

Nothing here reads a clock, the database or the network: the shells (the HTTP resources
and the Mycelium watcher) load the challenges, pass ``now`` and apply the verdict.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.public

from adapters.mycelium import InboundMessage
from models.errors import HeroError, InvalidAddress
from wire.address import derive_address, parse_address
from wire.keys import parse_public_key

#: The Mycelium message topic a login code is sent on.
LOGIN_TOPIC = b"hero.login"
#: Letters of a code: lowercase and digits without 0, 1, i, l, o (easy to read and type).
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
#: A code is three groups of four (about 59 random bits), like ``k7m2-q9xp-4hrt``.
CODE_PATTERN = re.compile(r"^[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}$")
#: Failed proofs one challenge accepts before it refuses even a good one.
MAX_FAILED_PROOFS_PER_CHALLENGE = 5


class LoginError(HeroError):
    """Base of the login errors."""


class ChallengeNotFound(LoginError):
    """No login challenge has this id (or it belongs to another browser)."""


class ProofRefused(LoginError):
    """A proof was checked and does not prove the challenge; it counts as a failed attempt."""


class ChallengeClosed(LoginError):
    """The challenge cannot be proven any more: expired, used or already proven."""


class RateLimited(LoginError):
    """Too many attempts in the window; says when to try again."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ChallengeView:
    """What the rules need of a stored challenge."""

    id: int
    public_id: str
    address: str
    code: str
    expires_at: dt.datetime
    proven_at: dt.datetime | None = None
    used_at: dt.datetime | None = None
    failed_attempts: int = 0
    #: sha256 of the binding token of the browser that asked for it.
    browser_hash: str = ""
    #: The client IP that asked for it.
    client_ip: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one proof.

    ``challenge_id`` names the challenge concerned (None when no challenge matched);
    ``failed`` says whether it counts as a failed attempt against that challenge;
    ``closed`` says the challenge could not be proven any more anyway.
    """

    accepted: bool
    reason: str
    challenge_id: int | None = None
    failed: bool = False
    closed: bool = False


def new_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh one-time code, like ``k7m2-q9xp-4hrt``."""
    letters = "".join(choice(CODE_ALPHABET) for _ in range(12))
    return f"{letters[:4]}-{letters[4:8]}-{letters[8:]}"


def normalize_code(text: str) -> str | None:
    """The code in *text* (surrounding blanks and case ignored), or None when it is none.

    >>> normalize_code(" K7M2-Q9XP-4HRT\\n")
    'k7m2-q9xp-4hrt'
    """
    code = text.strip().lower()
    return code if CODE_PATTERN.match(code) else None


def judge(challenge: ChallengeView, *, code: str, public_key: bytes, now: dt.datetime) -> Verdict:
    """Whether *public_key* sending *code* proves *challenge* at *now*.

    The key must derive to the challenge's address in all 128 bits: a key whose address
    only shares the /64 is refused.
    """
    cid = challenge.id
    if challenge.used_at is not None:
        return Verdict(False, "this login was already used", cid, closed=True)
    if challenge.proven_at is not None:
        return Verdict(False, "this login is already proven", cid, closed=True)
    if now >= challenge.expires_at:
        return Verdict(False, "this login code has expired", cid, closed=True)
    if challenge.failed_attempts >= MAX_FAILED_PROOFS_PER_CHALLENGE:
        return Verdict(False, "too many failed attempts for this login", cid, closed=True)
    if not hmac.compare_digest(code.encode(), challenge.code.encode()):
        return Verdict(False, "the code does not match this login", cid, failed=True)
    try:
        derived = derive_address(public_key)
        claimed = parse_address(challenge.address)
    except InvalidAddress as exc:
        return Verdict(False, str(exc), cid, failed=True)
    if derived.packed != claimed.packed:
        return Verdict(
            False,
            f"the key's Mycelium address is {derived}, not {claimed}",
            cid,
            failed=True,
        )
    return Verdict(True, "proven", cid)


def judge_message(
    message: InboundMessage, challenges: Sequence[ChallengeView], now: dt.datetime
) -> Verdict:
    """Whether a Mycelium message proves one of *challenges* (those loaded for its code).

    Accepted only when the topic is ``hero.login``, the payload is a code of a challenge,
    the sender's key derives to the sender's address (``srcIp``), and that address is the
    challenge's address in all 128 bits.
    """
    if message.topic != LOGIN_TOPIC:
        return Verdict(False, "the message is not on the hero.login topic")
    try:
        code = normalize_code(message.payload.decode("utf-8"))
    except UnicodeDecodeError:
        code = None
    if code is None:
        return Verdict(False, "the message is not a login code")
    matching = [c for c in challenges if hmac.compare_digest(c.code.encode(), code.encode())]
    if not matching:
        return Verdict(False, "no login has this code")
    public_key = parse_public_key(message.src_pk)
    source_ok = public_key is not None and _owns(public_key, message.src_ip)
    verdicts = [
        judge(c, code=code, public_key=public_key, now=now)
        if public_key is not None and source_ok
        else Verdict(False, "the sender's key does not own the sender's address", c.id, failed=True)
        for c in matching
    ]
    return next((v for v in verdicts if v.accepted), verdicts[0])


def _owns(public_key: bytes, source_ip: str) -> bool:
    try:
        source = ipaddress.IPv6Address(source_ip.strip())
    except ValueError:
        return False
    return derive_address(public_key).packed == source.packed


def open_key_proof(
    service_key: nacl.public.PrivateKey, *, pubkey_hex: str, box_hex: str
) -> tuple[bytes, str]:
    """Open a key proof: a NaCl box from the user's key to the service key.

    Returns:
        The user's public key and the code inside the box.

    Raises:
        ProofRefused: the key or box is malformed, or the box does not open.
    """
    public_key = parse_public_key(pubkey_hex or "")
    if public_key is None:
        raise ProofRefused("pubkey: must be 64 hex characters (an X25519 public key)")
    try:
        sealed = bytes.fromhex((box_hex or "").strip())
    except ValueError:
        raise ProofRefused("box: must be hex") from None
    try:
        # A low-order key (all zeros, say) fails in Box() itself: refused like a bad box.
        box = nacl.public.Box(service_key, nacl.public.PublicKey(public_key))
        plaintext = box.decrypt(sealed)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise ProofRefused(
            "box: does not open with this key and the service key; was it made for this "
            "service with the same key?"
        ) from None
    return public_key, plaintext.decode("utf-8", errors="replace").strip().lower()
