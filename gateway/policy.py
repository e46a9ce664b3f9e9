"""What the gateway shows and refuses by, decided by the settings: the composition root
builds one ``Policy`` and hands it to ``create_app``; the gateway reads no process holder.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.kyc_rules import GATED_ACTIONS


@dataclass(frozen=True)
class Policy:
    """The credit grace the dashboard counts down and the identity gate of the pages."""

    #: Seconds an account stays exhausted before its VMs are suspended
    #: (``HERO_SUSPEND_AFTER_S``): the suspension time the dashboard shows.
    suspend_after_s: int
    #: Which action needs a verified identity: none, plan or topup.
    kyc_required_for: str

    def __post_init__(self) -> None:
        if self.suspend_after_s < 1:
            raise ValueError(f"suspend_after_s: must be at least 1, not {self.suspend_after_s}")
        if self.kyc_required_for not in GATED_ACTIONS:
            raise ValueError(
                f"kyc_required_for: one of {', '.join(GATED_ACTIONS)}, "
                f"not {self.kyc_required_for!r}"
            )
