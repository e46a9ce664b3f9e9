"""The rules every usage record obeys, wherever it enters: one set for node and service.

A record is checked by the node agent before it is journalled (``hero-node record``,
``POST /usage``), by the OTOML codec when a batch file is read, by the NATS bridge, and
once more by ``apply_usage_batch`` before anything is charged. This module imports
neither the database nor the settings, so the node agent can use it on its own.

Bounds (also in docs/usage-pipeline.md):

- ``amount_cents``: an integer, 0 to ``MAX_AMOUNT_CENTS`` (100 000.00 in one record);
- ``quantity``: an integer, 0 to ``MAX_QUANTITY`` (10^12);
- ``occurred_at``: from ``EARLIEST`` (2020-01-01T00:00:00Z) to ``MAX_FUTURE`` after now;
  a time that can be written at all lies in the years ``MIN_YEAR``..``MAX_YEAR``
  (2000..9999), always with a four-digit year;
- ``key``: ``<node>:<seq>``, seq 1 to 18 ASCII digits; ``node``: ``NODE_NAME``;
- ``user``: a Mycelium address (IPv6 in 400::/7), kept in RFC 5952 form;
- ``resource_kind`` in ``RESOURCE_KINDS``, ``applies_to`` in ``CATEGORIES``.

Every refusal is a ``RecordError`` whose text starts with the field: ``"quantity: ..."``.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from wire.times import iso_z

#: What a usage record measures.
RESOURCE_KINDS = ("vm_hour", "llm_token", "hero_os_hour", "other")
#: The pricing category a record is discounted under.
CATEGORIES = ("hero_os_hourly", "llm", "vm")
#: The category of a record that names none.
DEFAULT_CATEGORY = "hero_os_hourly"
#: The most one record may cost, in cents (100 000.00).
MAX_AMOUNT_CENTS = 10_000_000
#: The largest quantity one record may report.
MAX_QUANTITY = 10**12
#: No usage before this moment is accepted (the product did not exist).
EARLIEST = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
#: How far in the future a record's time may lie (clock skew between hosts).
MAX_FUTURE = dt.timedelta(minutes=10)
#: The years a time may carry at all, so that whatever is written can be read back.
MIN_YEAR, MAX_YEAR = 2000, 9999
#: A node name: what may appear in ``<node>:<seq>`` keys, subjects and file paths.
NODE_NAME = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,62}\Z", re.ASCII)
#: The longest sequence number of a key, in digits.
SEQ_DIGITS = 18
#: The network every Mycelium address lies in.
MYCELIUM_NETWORK = ipaddress.IPv6Network("400::/7")

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_UNIX = re.compile(r"[0-9]{1,11}", re.ASCII)
#: The sequence number of a key, after ``<node>:``.
_SEQ = re.compile(rf"[0-9]{{1,{SEQ_DIGITS}}}", re.ASCII)


class RecordError(ValueError):
    """One record that breaks a rule; the text starts with the field's name."""


@dataclass(frozen=True)
class UsageIn:
    """One validated usage record."""

    key: str
    node: str
    user: str
    resource_kind: str
    applies_to: str
    quantity: int
    amount_cents: int
    occurred_at: dt.datetime  # aware, UTC

    def to_json(self) -> dict[str, Any]:
        """JSON primitives, as sent over NATS and in messages."""
        return {
            "key": self.key,
            "node": self.node,
            "user": self.user,
            "resource_kind": self.resource_kind,
            "applies_to": self.applies_to,
            "quantity": self.quantity,
            "amount_cents": self.amount_cents,
            "occurred_at": format_time(self.occurred_at),
        }

    @property
    def seq(self) -> int:
        return int(self.key.rsplit(":", 1)[1])


def is_node_name(value: object) -> TypeGuard[str]:
    """Whether *value* is a node name (ASCII lower case, digits, ``-``, ``_``)."""
    return isinstance(value, str) and NODE_NAME.fullmatch(value) is not None


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 UTC with a ``Z``, to the second, the year always four digits.

    >>> format_time(dt.datetime(2026, 11, 21, 14, 3, 10, tzinfo=dt.UTC))
    '2026-11-21T14:03:10Z'
    """
    return iso_z(moment)


def parse_time(value: Any, name: str) -> dt.datetime:
    """A quoted RFC 3339 time or quoted Unix seconds, as an aware UTC datetime.

    Only ASCII digits count; the year must lie in ``MIN_YEAR``..``MAX_YEAR``.

    Raises:
        RecordError: naming *name*.
    """
    if isinstance(value, dt.datetime):
        raise RecordError(f"{name}: times are quoted strings, not TOML datetimes")
    if not isinstance(value, str) or not value:
        raise RecordError(f"{name}: must be a quoted time, not {short_repr(value)}")
    if _UNIX.fullmatch(value):
        parsed = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=int(value))
    elif _RFC3339.fullmatch(value):
        if len(value) == 20:  # YYYY-MM-DDTHH:MM:SSZ, as every record is written: UTC already
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                raise RecordError(
                    f"{name}: {short_repr(value)} is not a valid date and time"
                ) from None
            return _in_years(parsed, value, name)
        try:
            parsed = dt.datetime.fromisoformat(_six_digit_fraction(value.replace("Z", "+00:00")))
        except ValueError:
            raise RecordError(f"{name}: {short_repr(value)} is not a valid date and time") from None
        try:
            parsed = parsed.astimezone(dt.UTC)
        except OverflowError:
            raise RecordError(f"{name}: {short_repr(value)} is out of range") from None
    else:
        raise RecordError(
            f"{name}: {short_repr(value)} is not an RFC 3339 time (YYYY-MM-DDTHH:MM:SSZ)"
        )
    return _in_years(parsed, value, name)


def _in_years(parsed: dt.datetime, value: str, name: str) -> dt.datetime:
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise RecordError(
            f"{name}: {short_repr(value)} is outside the years {MIN_YEAR}..{MAX_YEAR}"
        )
    return parsed


def hour_of(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour that *moment* lies in."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def canonical_user(value: Any) -> str:
    """The RFC 5952 text of a Mycelium address.

    Raises:
        RecordError: ``user: ...``, naming what is wrong.
    """
    if not isinstance(value, str):
        raise RecordError(f"user: an address is text, not {type(value).__name__}")
    return _canonical_user(value)


@functools.lru_cache(maxsize=65_536)
def _canonical_user(text: str) -> str:
    # Cached: a usage batch names the same few users again and again.
    if not text.strip() or len(text) > 64 or not text.isascii() or "%" in text:
        raise RecordError(f"user: {short_repr(text)} is not a Mycelium address")
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        raise RecordError(f"user: {short_repr(text)} is not an IPv6 address") from None
    if not isinstance(addr, ipaddress.IPv6Address):
        raise RecordError(f"user: {short_repr(text)} is an IPv4 address; Mycelium uses IPv6")
    if addr.ipv4_mapped is not None or addr not in MYCELIUM_NETWORK:
        raise RecordError(f"user: {short_repr(text)} is outside 400::/7, not a Mycelium address")
    return str(addr)


def bounded_int(value: Any, name: str, maximum: int) -> int:
    """*value* when it is an integer (not a bool) in 0..*maximum*.

    Raises:
        RecordError: naming *name*.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name}: must be an integer, not {short_repr(value)}")
    if value < 0:
        raise RecordError(f"{name}: must not be negative ({short_repr(value)})")
    if value > maximum:
        raise RecordError(f"{name}: {short_repr(value)} is more than the maximum {maximum}")
    return value


def validate_record(fields: Any, *, node: str | None = None, now: dt.datetime) -> UsageIn:
    """Validate one record (a report, a file's table, a NATS message or a queued record).

    Args:
        fields: a mapping with ``key``, ``user``, ``resource_kind``, ``quantity``,
            ``amount_cents``, ``occurred_at`` and optionally ``node`` and ``applies_to``.
        node: the node it must belong to, or None to take it from the record.
        now: the current time (aware); records more than ``MAX_FUTURE`` after it, or
            before ``EARLIEST``, are refused.

    Raises:
        RecordError: naming the field and the problem.
    """
    if type(fields) is not dict and not isinstance(fields, Mapping):  # dict: the usual, quick
        raise RecordError("record: must be a table")
    key = fields.get("key")
    record_node = fields.get("node", node)
    if not is_node_name(record_node):
        raise RecordError(f"node: {short_repr(record_node)} is not a node name")
    if node is not None and record_node != node:
        raise RecordError(f"node: {short_repr(record_node)} in a batch of node {node!r}")
    if (
        not isinstance(key, str)
        or not key.startswith(record_node + ":")
        or _SEQ.fullmatch(key, len(record_node) + 1) is None
    ):
        raise RecordError(f"key: {short_repr(key)} is not <node>:<seq> for node {record_node!r}")
    user = canonical_user(fields.get("user"))
    kind = fields.get("resource_kind")
    if not isinstance(kind, str) or kind not in RESOURCE_KINDS:
        raise RecordError(
            f"resource_kind: {short_repr(kind)} is not one of {', '.join(RESOURCE_KINDS)}"
        )
    category = fields.get("applies_to", DEFAULT_CATEGORY)
    if not isinstance(category, str) or category not in CATEGORIES:
        raise RecordError(
            f"applies_to: {short_repr(category)} is not one of {', '.join(CATEGORIES)}"
        )
    quantity = bounded_int(fields.get("quantity"), "quantity", MAX_QUANTITY)
    amount = bounded_int(fields.get("amount_cents"), "amount_cents", MAX_AMOUNT_CENTS)
    occurred = parse_time(fields.get("occurred_at"), "occurred_at")
    if occurred < EARLIEST:
        raise RecordError(f"occurred_at: {format_time(occurred)} is before {format_time(EARLIEST)}")
    if occurred - now > MAX_FUTURE:
        raise RecordError(f"occurred_at: {format_time(occurred)} is more than 10 minutes ahead")
    return UsageIn(
        key=key,
        node=record_node,
        user=user,
        resource_kind=kind,
        applies_to=category,
        quantity=quantity,
        amount_cents=amount,
        occurred_at=occurred,
    )


def _six_digit_fraction(text: str) -> str:
    """Python 3.11 reads at most six fraction digits; drop the rest (below a microsecond)."""
    match = re.search(r"\.([0-9]+)", text)
    if match is None or len(match.group(1)) <= 6:
        return text
    return text[: match.start(1) + 6] + text[match.end(1) :]


def short_repr(value: Any) -> str:
    """*value*'s repr, cut so that a hostile value cannot flood an error or a log."""
    try:
        text = repr(value)
    except Exception:  # a repr that fails says nothing useful anyway
        return f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."
