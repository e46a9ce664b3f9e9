"""Identity verification providers behind one ``KycProvider`` interface."""

from __future__ import annotations

from adapters.kyc.base import KycProvider, KycResult, KycSession, KycUnavailable

__all__ = ["KycProvider", "KycResult", "KycSession", "KycUnavailable"]
