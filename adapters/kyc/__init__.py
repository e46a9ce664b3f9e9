"""Identity verification providers behind one ``KycProvider`` interface."""

from __future__ import annotations

from adapters.kyc.base import (
    KycAnswerInvalid,
    KycKeysRefused,
    KycProvider,
    KycResult,
    KycRetryLater,
    KycSession,
    KycStatusSource,
    KycUnavailable,
)

__all__ = [
    "KycAnswerInvalid",
    "KycKeysRefused",
    "KycProvider",
    "KycResult",
    "KycRetryLater",
    "KycSession",
    "KycStatusSource",
    "KycUnavailable",
]
