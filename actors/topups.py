"""Top-ups not paid yet: where their checkout lives, expiry after a day, and cancelling.

Expiry is read, not written: a top-up still ``started`` a day after it was made reads
as ``expired`` (``topup_state``), so no job has to run for the page to be right, and a
payment that still arrives for it is credited and marks it ``paid`` as always.
"""

from __future__ import annotations

import dramatiq
import structlog

from actors import RETRY_POLICY, actor
from models import Account, TopUp
from models.errors import InvalidAddress
from models.payments import TOPUP_TTL as TOPUP_TTL
from models.payments import topup_state as topup_state
from wire.address import canonical_address
from wire.times import utcnow

log = structlog.get_logger("hero.topups")

#: Longest checkout address kept (``TopUp.checkout_url``); a longer one is not stored.
MAX_CHECKOUT_URL_CHARS = 2000
#: How long ``note_checkout`` waits for ``record_topup`` before retrying, in ms.
RECORD_WAIT_MS = 1_000


def _owned(public_id: str, address: str) -> TopUp | None:
    try:
        canonical = canonical_address(address)
    except InvalidAddress:
        return None
    row: TopUp | None = (
        TopUp.select()
        .join(Account)
        .where((TopUp.public_id == public_id) & (Account.address == canonical))
        .first()
    )
    return row


@actor(queue_name="payments", **RETRY_POLICY)
def note_checkout(public_id: str, address: str, provider_ref: str, checkout_url: str) -> str:
    """Remember where a started top-up's checkout lives, so it can be resumed.

    Waits (retries) for ``record_topup`` when it has not arrived yet.
    """
    if _owned(public_id, address) is None:
        raise dramatiq.Retry(delay=RECORD_WAIT_MS)
    url = checkout_url if len(checkout_url) <= MAX_CHECKOUT_URL_CHARS else None
    changed = (
        TopUp.update(provider_ref=provider_ref[:200], checkout_url=url, updated_at=utcnow())
        .where((TopUp.public_id == public_id) & (TopUp.status == "started"))
        .execute()
    )
    return "noted" if changed else "not_started"


@actor(queue_name="payments", **RETRY_POLICY)
def cancel_topup(public_id: str, address: str) -> str:
    """Cancel a started top-up of *address*: it leaves the list of payments to finish.

    A payment that still arrives for it is credited all the same (and marks it paid).
    """
    row = _owned(public_id, address)
    if row is None:
        return "not_found"
    changed = (
        TopUp.update(status="cancelled", updated_at=utcnow())
        .where((TopUp.id == row.id) & (TopUp.status == "started"))
        .execute()
    )
    log.info("topup.cancel", topup=public_id, changed=bool(changed))
    return "cancelled" if changed else "not_started"
