"""ClickPesa webhooks: verify the checksum, validate what the body claims, name the order.

The body is parsed the way ``JSON.parse`` would (``clickpesa_json.parse_json``), so the
checksum is recomputed over exactly what ClickPesa's JavaScript signed. A verified
webhook only asks a worker to re-query the payment; its amount is validated here but
never credited from.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

from adapters.payments.base import WebhookRejected
from adapters.payments.clickpesa_json import JsonNumber, clickpesa_checksum, parse_json
from messages.facts import ClickPesaPaymentEvent, Fact
from models.money import MAX_PAYMENT_CENTS

#: Headers third-party SDKs carry the webhook checksum in, when the body has none.
CHECKSUM_HEADERS = ("x-clickpesa-signature", "x-clickpesa-checksum")
#: Webhook events that make a worker re-query the payment.
PAYMENT_EVENTS = ("PAYMENT RECEIVED", "PAYMENT FAILED")
#: The only currency Hero's checkout links are made in.
CHECKOUT_CURRENCY = "USD"
_REFERENCE = re.compile(r"[A-Za-z0-9]{1,64}")
_AMOUNT = re.compile(r"(?P<whole>[0-9]{1,15})(?:\.(?P<fraction>[0-9]{1,2}))?")


class BadAmount(ValueError):
    """An amount ClickPesa sent that is not a valid payment amount."""


def collected_cents(value: object, field: str = "collectedAmount") -> int:
    """A ClickPesa amount (an integer, or a decimal with at most 2 decimals) in cents.

    Strings and JSON numbers are read from their text (``"25.50"``, ``1000.00``);
    a Python float is refused, as its decimals are not known.

    >>> collected_cents("25.50"), collected_cents(JsonNumber("1000.00")), collected_cents(7)
    (2550, 100000, 700)

    Raises:
        BadAmount: naming *field*: missing, not a plain decimal, more than 2 decimals,
            negative, or above ``MAX_PAYMENT_CENTS``.
    """
    if isinstance(value, JsonNumber):
        text = value.text
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        raise BadAmount(f"{field}: not an amount: {value!r}")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise BadAmount(
            f"{field}: {text[:40]!r} is not an amount (digits, at most 2 decimals, no sign)"
        )
    cents = int(match.group("whole")) * 100 + int((match.group("fraction") or "").ljust(2, "0"))
    if cents > MAX_PAYMENT_CENTS:
        raise BadAmount(f"{field}: {text} is above the largest payment, {MAX_PAYMENT_CENTS} cents")
    return cents


def checkout_currency(value: object, field: str = "collectedCurrency") -> str:
    """*value* when it is the checkout currency (USD, any case).

    Raises:
        BadAmount: naming *field*: missing or another currency.
    """
    if not isinstance(value, str) or value.strip().upper() != CHECKOUT_CURRENCY:
        raise BadAmount(f"{field}: {value!r} is not {CHECKOUT_CURRENCY}, the checkout currency")
    return CHECKOUT_CURRENCY


def parse_clickpesa_webhook(
    body: bytes, headers: Mapping[str, str], *, checksum_key: str
) -> list[Fact]:
    """Verify a ClickPesa webhook and say what it means happened.

    The checksum is read from the body field ``checksum``, else from the
    ``X-ClickPesa-Signature``/``X-ClickPesa-Checksum`` headers (*headers* lower-cased).
    The event is named ``event`` (``PAYMENT RECEIVED`` sample) or ``eventType`` (the
    documented ``PAYMENT FAILED`` sample).

    Returns:
        One ``ClickPesaPaymentEvent`` for a payment event; none for others.

    Raises:
        WebhookRejected: naming the field: body not a JSON object, checksum missing or
            wrong, event missing, ``data.orderReference`` missing, or an amount or
            currency that is no valid payment.
    """
    try:
        event = parse_json(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("body: not JSON") from None
    if not isinstance(event, dict):
        raise WebhookRejected("body: not a JSON object")
    given = event.get("checksum") or next(
        (headers[h] for h in CHECKSUM_HEADERS if headers.get(h)), None
    )
    if not isinstance(given, str) or not given:
        raise WebhookRejected("checksum: missing (no body field, no X-ClickPesa-* header)")
    expected = clickpesa_checksum(event, checksum_key)
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        method = event.get("checksumMethod")
        suffix = f" (checksumMethod {str(method)[:40]!r})" if method else ""
        raise WebhookRejected(f"checksum: does not match the body{suffix}")
    kind = event.get("event", event.get("eventType"))
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected("event: missing (neither event nor eventType names it)")
    if kind not in PAYMENT_EVENTS:
        return []
    data = event.get("data")
    reference = data.get("orderReference") if isinstance(data, dict) else None
    if not isinstance(reference, str) or not reference.strip():
        raise WebhookRejected("data.orderReference: missing")
    if not _REFERENCE.fullmatch(reference.strip()):
        raise WebhookRejected("data.orderReference: not 1 to 64 letters and digits")
    assert isinstance(data, dict)
    try:
        if "collectedAmount" in data:
            collected_cents(data["collectedAmount"], "data.collectedAmount")
        if "collectedCurrency" in data:
            checkout_currency(data["collectedCurrency"], "data.collectedCurrency")
    except BadAmount as exc:
        raise WebhookRejected(str(exc)) from None
    return [ClickPesaPaymentEvent(order_reference=reference.strip(), webhook_event=kind)]
