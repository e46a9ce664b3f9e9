"""The ``KycProvider`` interface, and the result a verified webhook turns into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class KycUnavailable(Exception):
    """The identity provider could not be reached or refused to start a session."""


class KycRetryLater(KycUnavailable):
    """A status call got no usable answer now (no answer, a timeout, a 5xx or a 429):
    the same call may work later. *answered*: whether the provider answered at all."""

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered


class KycKeysRefused(KycUnavailable):
    """The provider refused our API key pair (401/403): no call can work until it is fixed."""


class KycAnswerInvalid(KycUnavailable):
    """The provider's answer about one session is unusable (the message names the field),
    or it refused the question itself (e.g. an unknown scanRef): asking again will not help."""


@dataclass(frozen=True)
class KycSession:
    """A started verification: where to send the browser and the provider's reference."""

    redirect_url: str
    scan_ref: str
    expires_in_s: int


@dataclass(frozen=True)
class KycResult:
    """What one webhook said, stripped of personal data: JSON primitives only."""

    source: str
    digest: str  # SHA-256 of the raw body
    event_type: str
    scan_ref: str
    client_id: str | None
    final: bool | None
    overall: str | None
    auto_document: str | None = None
    auto_face: str | None = None
    manual_document: str | None = None
    manual_face: str | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)

    def as_message(self) -> dict[str, Any]:
        return asdict(self)


class KycStatusSource(Protocol):
    """Where one session's verdict can be asked for when its webhook never came."""

    def status(self, scan_ref: str) -> Any:
        """The provider's current verdict on *scan_ref*, as a ``KycChecked`` fact.

        Raises:
            KycRetryLater: no usable answer now.
            KycKeysRefused: the API keys were refused.
            KycAnswerInvalid: the answer cannot be used (naming the field).
        """
        ...


class KycProvider(Protocol):
    """A way to verify a person: start a hosted session, read the provider's webhooks."""

    name: str

    def start(self, *, client_id: str, return_url: str) -> KycSession:
        """Create a verification session for *client_id*.

        Raises:
            KycUnavailable: the provider could not be reached or refused.
        """
        ...

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Any]:
        """Verify a webhook over its raw *body*; the facts it states.

        Raises:
            WebhookRejected: naming what failed.
        """
        ...
