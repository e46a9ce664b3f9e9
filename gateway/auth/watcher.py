"""The Mycelium watcher: read ``hero.login`` messages from the service's node, prove logins.

The rules are ``judge_message`` (pure); this is the shell around them: pop a message,
load the challenges with its code, judge, store the verdict. Every gateway runs one, but
only the holder of the node's lease (``gateway/auth/lease.py``) polls: the node serves one
API call at a time, for the whole of a long poll. What a message proves is in the database.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Protocol

import structlog

from adapters.mycelium import InboundMessage, MalformedMessage, MyceliumUnavailable
from gateway.auth import challenges
from gateway.auth.lease import STANDBY_RETRY_S, Lease, lease_for
from gateway.auth.proofs import LOGIN_TOPIC, RateLimited, Verdict, judge_message, normalize_code
from models import db
from wire.times import utcnow

log = structlog.get_logger("hero.login")

#: Longest wait of one long poll of the node's API, in seconds; well under the client's
#: read timeout (``READ_MARGIN_S`` more), which also covers the wait for the node's lock.
POLL_TIMEOUT_S = 5
#: Longest pause between attempts while the node's API is down, in seconds.
MAX_BACKOFF_S = 30.0


class MessageSource(Protocol):
    @property
    def api_url(self) -> str: ...

    def receive(self, *, topic: bytes, timeout_s: int) -> InboundMessage | None: ...

    def node_pubkey(self) -> str | None: ...


class LoginWatcher:
    """Read login messages from a Mycelium node and prove the challenges they answer."""

    def __init__(
        self,
        source: MessageSource,
        *,
        service_pubkey: str,
        clock: Callable[[], dt.datetime] = utcnow,
        poll_timeout_s: int = POLL_TIMEOUT_S,
        lease: Lease | None = None,
        standby_retry_s: float = STANDBY_RETRY_S,
    ) -> None:
        # lease: who may poll the node; by default the lease on the bound database.
        self._source = source
        self._lease = lease
        self._standby_retry_s = standby_retry_s
        self._service_pubkey = service_pubkey.lower()
        self._clock = clock
        self._poll_timeout_s = poll_timeout_s

    def handle(self, message: InboundMessage) -> Verdict:
        """Judge one message and store the verdict."""
        now = self._clock()
        try:
            code = normalize_code(message.payload.decode("utf-8"))
        except UnicodeDecodeError:
            code = None
        candidates = challenges.with_code(code) if code else []
        verdict = judge_message(message, candidates, now)
        if verdict.accepted:
            challenge = next(c for c in candidates if c.id == verdict.challenge_id)
            try:
                challenges.check_proof_attempts(challenge, now=now)
            except RateLimited as exc:
                verdict = Verdict(False, str(exc), challenge.id, closed=True)
        proven = challenges.apply_verdict(verdict, proven_by="message", now=now)
        log.info(
            "login.message",
            outcome="proven" if proven else "refused",
            reason=verdict.reason if not proven else None,
            challenge=next((c.public_id for c in candidates if c.id == verdict.challenge_id), None),
            src_ip=message.src_ip,
            message_id=message.id,
        )
        return verdict

    def poll_once(self) -> Verdict | None:
        """Wait for one message and handle it; None when none came.

        Raises:
            MyceliumUnavailable: the node's API is down.
        """
        try:
            message = self._source.receive(topic=LOGIN_TOPIC, timeout_s=self._poll_timeout_s)
        except MalformedMessage as exc:
            log.warning("login.message_malformed", error=str(exc))
            return None
        if message is None:
            return None
        try:
            return self.handle(message)
        finally:
            if not db.is_closed():
                db.close()

    def run(self, stop: threading.Event) -> None:
        """Poll while holding the node's lease, until *stop* is set.

        Without the lease, stand by and try it again every ``standby_retry_s``. While the
        node's API is down, back off (keeping the lease: the node is down for everyone).
        """
        lease = self._lease or lease_for(db.obj, api_url=self._source.api_url)
        standing_by = False
        try:
            while not stop.is_set():
                if lease.acquire():
                    standing_by = False
                    log.info("login.watcher_leading", node=self._source.api_url)
                    self._poll_while_leading(stop, lease)
                    continue
                if not standing_by:
                    log.info("login.watcher_standby", node=self._source.api_url)
                    standing_by = True
                stop.wait(self._standby_retry_s)
        finally:
            lease.release()

    def _poll_while_leading(self, stop: threading.Event, lease: Lease) -> None:
        """Poll until *stop* is set or the lease is lost."""
        backoff_s = 0.0
        checked_key = False
        while not stop.is_set():
            try:
                if not checked_key:
                    self._check_node_key()
                    checked_key = True
                self.poll_once()
                if backoff_s:
                    log.info("mycelium.reachable")
                backoff_s = 0.0
            except MyceliumUnavailable as exc:
                if not backoff_s:
                    log.warning("mycelium.unreachable", error=str(exc))
                backoff_s = min(MAX_BACKOFF_S, max(1.0, backoff_s * 2))
                stop.wait(backoff_s)
            except Exception:  # noqa: BLE001 - the watcher must outlive one bad message
                log.exception("login.watcher_error")
                stop.wait(1.0)
            if not stop.is_set() and not lease.acquire():
                log.warning("login.watcher_lease_lost", node=self._source.api_url)
                return

    def _check_node_key(self) -> None:
        node_key = self._source.node_pubkey()
        if node_key and node_key != self._service_pubkey:
            log.warning(
                "mycelium.key_mismatch",
                node_pubkey=node_key,
                service_pubkey=self._service_pubkey,
                hint="HERO_MYCELIUM_KEY should be the node's priv_key.bin: messages sent "
                "to the key shown on /login go to another node",
            )


def start_watcher(watcher: LoginWatcher, stop: threading.Event) -> threading.Thread:
    """Run *watcher* in a daemon thread until *stop* is set."""
    thread = threading.Thread(
        target=watcher.run, args=(stop,), name="mycelium-login-watcher", daemon=True
    )
    thread.start()
    return thread
