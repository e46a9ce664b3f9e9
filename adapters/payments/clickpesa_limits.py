"""What the ClickPesa client needs to stay within ClickPesa's call limit.

Before ClickPesa's own KYC an account may call its API 100 times a day, token
generation included (ClickPesa/developers.docs, ``home/sandbox-and-testing-environment``).
The client asks a ``CallMeter`` before every call and keeps its token in a
``TokenStore``; the database-backed ones (``actors.clickpesa_budget``) are shared by
every process, these in-process ones serve a single process and tests.
"""

from __future__ import annotations

import threading
from typing import Protocol

from models.errors import ProviderUnavailable


class CallBudgetExhausted(ProviderUnavailable):
    """Today's share of the ClickPesa call budget for this kind of call is used up."""


class CallMeter(Protocol):
    def take(self, *, background: bool) -> None:
        """Count one call about to be made.

        Args:
            background: a re-query nobody waits for (reconciliation); these get a
                smaller share of the budget than checkouts and webhook confirmations.

        Raises:
            CallBudgetExhausted: the call must not be made.
        """


class TokenStore(Protocol):
    def load(self, now: float) -> str | None:
        """The stored token if it is still valid at *now* (Unix seconds), else None."""

    def save(self, token: str, expires_at: float) -> None:
        """Keep *token* until *expires_at* (Unix seconds)."""


class Unmetered:
    """A meter that lets every call through."""

    def take(self, *, background: bool) -> None:
        return None


class ProcessTokens:
    """A token kept in this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def load(self, now: float) -> str | None:
        with self._lock:
            return self._token if self._token is not None and now < self._expires_at else None

    def save(self, token: str, expires_at: float) -> None:
        with self._lock:
            self._token, self._expires_at = token, expires_at
