"""The Mycelium watcher: read ``hero.login`` messages from the service's node, prove logins.

The rules are ``judge_message`` (pure); this is the shell around them: pop a message,
load the challenges with its code, judge, store the verdict. Every gateway may run one:
a message is popped by one of them, and what it proves is in the database.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Protocol

import structlog

from adapters.mycelium import InboundMessage, MalformedMessage, MyceliumUnavailable
from gateway.auth import challenges
from gateway.auth.proofs import LOGIN_TOPIC, RateLimited, Verdict, judge_message, normalize_code
from models import db, utcnow

log = structlog.get_logger("hero.login")

#: Longest wait of one long poll of the node's API, in seconds.
POLL_TIMEOUT_S = 5
#: Longest pause between attempts while the node's API is down, in seconds.
MAX_BACKOFF_S = 30.0


class MessageSource(Protocol):
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
    ) -> None:
        self._source = source
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
        """Poll until *stop* is set, backing off while the node's API is down."""
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
