"""The KYC gate's pure rules: what a result does to an account's state, and who may pass.

A verification sends more than one result (a preliminary automatic one, then a manual
one that may differ). Each result has a rank; for the same session a result replaces the
state only when it ranks higher (preliminary results may replace each other), so the
final one wins, a late preliminary one changes nothing, and an operator's decision stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Values of ``HERO_KYC_REQUIRED_FOR`` and the actions each one gates.
GATED_ACTIONS = {"none": frozenset(), "plan": {"plan"}, "topup": {"plan", "topup"}}

RANK_STARTED, RANK_PRELIMINARY, RANK_FINAL, RANK_MANUAL, RANK_OPERATOR = range(5)
#: Codes that mean a check passed (not a reason).
PASSED = frozenset({"DOC_VALIDATED", "FACE_MATCH"})
#: States from which the user may start a (new) verification themselves.
MAY_START = frozenset({"none", "expired", "cancelled", "pending"})
#: The event type of an answer to a status call (``adapters.kyc.idenfy_status``).
STATUS_EVENT = "STATUS_CHECK"


@dataclass(frozen=True)
class Step:
    """Where a result moves the gate: a state and its rank (None: history only)."""

    state: str | None
    rank: int


def step_of(result: dict[str, Any]) -> Step:
    """The state and rank one result means on its own."""
    event = result["event_type"]
    overall = result.get("overall")
    if event == "DOCUMENT_EXPIRATION":
        return Step(None, 0)
    if event == STATUS_EVENT:
        if overall in ("ACTIVE", "UNKNOWN"):
            # Not finished (or a value we do not know): no news, the gate stays as it is.
            return Step(None, 0)
        if overall in ("DELETED", "ARCHIVED"):
            # The session is gone without a verdict we can read: the user starts again.
            return Step("expired", RANK_FINAL)
    if event == "IDENTIFICATION_CANCELLED":
        return Step("cancelled", RANK_FINAL)
    if event == "IDENTIFICATION_EXPIRED" or overall == "EXPIRED":
        return Step("expired", RANK_FINAL)
    manual = event == "IDENTIFICATION_MANUAL_FINISHED" or bool(
        result.get("manual_document") or result.get("manual_face")
    )
    final = result.get("final")
    if final is None:
        # Older single-webhook deliveries carry no flag: they are the final result.
        final = True
    if final and overall in ("APPROVED", "DENIED", "SUSPECTED"):
        return Step(str(overall).lower(), RANK_MANUAL if manual else RANK_FINAL)
    return Step("pending", RANK_PRELIMINARY)


def applies(step: Step, *, current_rank: int, same_session: bool, by_operator: bool) -> bool:
    """Whether a result's *step* replaces the stored state."""
    if step.state is None or not same_session or by_operator:
        return False
    if step.rank == RANK_PRELIMINARY:
        return current_rank <= RANK_PRELIMINARY
    return step.rank > current_rank


def reasons_of(result: dict[str, Any]) -> list[str]:
    """The reason codes of a result: failed checks (manual ones first), then tags."""
    codes: list[str] = []
    for name in ("manual_document", "manual_face", "auto_document", "auto_face"):
        code = result.get(name)
        if code and code not in PASSED and code not in codes:
            codes.append(code)
    if result.get("manual_document") or result.get("manual_face"):
        # A reviewer's codes replace the automatic ones.
        codes = [
            c for c in codes if c in (result.get("manual_document"), result.get("manual_face"))
        ]
    for tags in (result.get("tags") or {}).values():
        codes.extend(t for t in tags if t not in codes)
    return codes


def required(action: str, required_for: str) -> bool:
    """Whether *action* (``plan`` or ``topup``) needs an approved verification."""
    return action in GATED_ACTIONS.get(required_for, frozenset())


def refusal(action: str, status: str, *, required_for: str) -> str | None:
    """Why *action* is refused for an account whose verification is *status*; None: allowed."""
    if not required(action, required_for) or status == "approved":
        return None
    what = "buying a plan" if action == "plan" else "topping up"
    why = {
        "pending": "Your identity verification is not finished yet.",
        "denied": "Your identity could not be verified.",
        "suspected": "Your identity verification needs a check by our support team.",
        "expired": "Your identity verification expired before it was finished.",
        "cancelled": "Your identity verification was cancelled.",
    }.get(status, "You have not verified your identity yet.")
    return f"{why} Identity verification is needed before {what}: see the Identity page (/kyc)."
