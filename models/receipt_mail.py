"""The receipt as a payment email tells it: the details and the link to the page and PDF."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from models.money import format_cents
from models.payment_names import method_label, provider_label, receipt_number


def paid_at_text(value: object) -> str | None:
    """A stored ``...Z`` time as people read it, or None when it is not a time.

    >>> paid_at_text("2026-12-30T10:01:07Z")
    '30 Dec 2026, 10:01 UTC'
    """
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.removesuffix("Z"))
    except ValueError:
        return None
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def receipt_text(payload: dict[str, Any], link: Callable[[str], str]) -> str:
    """The receipt block of a payment email (empty for a payload that has no payment id,
    as those written before receipts existed).

    Args:
        payload: the ``payment_credited`` notification's payload.
        link: makes a gateway path an address to click.
    """
    payment_id = payload.get("payment_id")
    if not isinstance(payment_id, int) or isinstance(payment_id, bool) or payment_id <= 0:
        return ""
    provider = str(payload.get("provider") or "")
    key = str(payload.get("payment_key") or "")
    method = method_label(provider, key)
    lines = [f"Receipt {receipt_number(payment_id)}"]
    when = paid_at_text(payload.get("paid_at"))
    if when:
        lines.append(f"Date: {when}")
    lines += [
        f"Amount: {format_cents(int(payload['amount_cents']))} USD",
        f"Paid with: {provider_label(provider, key)}" + (f" ({method})" if method else ""),
        f"Reference: {key}",
    ]
    if payload.get("topup_id"):
        lines.append(f"Top-up: {payload['topup_id']}")
    if "balance_after_cents" in payload:
        lines.append(f"Balance after: {format_cents(int(payload['balance_after_cents']))}")
    page = link(f"/payments/{payment_id}/receipt")
    lines.append(f"\nView or print your receipt: {page}\nDownload it as a PDF: {page}.pdf")
    return "\n\n" + "\n".join(lines)
