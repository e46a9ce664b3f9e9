"""What the login needs from the composition root: the service key, lifetimes, cookie flags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import falcon
import nacl.public

from gateway.auth.sessions import CookiePolicy
from wire.times import utcnow


@dataclass(frozen=True)
class LoginOptions:
    """Login settings and collaborators, built once per process."""

    #: The service's X25519 key (its Mycelium node's key): opens key proofs.
    service_key: nacl.public.PrivateKey = field(repr=False)
    challenge_ttl_s: int = 300
    session_ttl_s: int = 7 * 24 * 3600
    secure_cookies: bool = False
    clock: Callable[[], dt.datetime] = utcnow

    @property
    def service_pubkey(self) -> str:
        """The service's public key, hex (what ``mycelium message send`` is given)."""
        return bytes(self.service_key.public_key).hex()

    @property
    def cookies(self) -> CookiePolicy:
        return CookiePolicy(secure=self.secure_cookies)

    def client_ip(self, req: falcon.Request) -> str:
        """The asking client's IP: ``REMOTE_ADDR``, which the server resolved through the
        trusted proxies (``gateway.proxies``) before the app saw the request."""
        return req.remote_addr or ""
