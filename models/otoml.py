"""The OTOML usage batch: one node's records for one hour, as TOML.

```toml
format = 1
node = "node-a"
hour = "2026-11-21T14:00:00Z"

[[records]]
key = "node-a:123"
user = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
resource_kind = "llm_token"
applies_to = "llm"
quantity = 1200
amount_cents = 3
occurred_at = "2026-11-21T14:03:10Z"
```

Times are quoted RFC 3339 UTC strings; a quoted integer (Unix seconds) is accepted on
read. Validation is strict and names the record and the field. A problem with the file
itself (not TOML, wrong format, wrong node) raises ``OtomlError``; a problem with one
record rejects that record only, so the rest of the file can still be applied.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import tomli
import tomli_w

from models.address import canonical_address
from models.errors import HeroError, InvalidAddress
from models.usage import CATEGORIES, RESOURCE_KINDS

#: The only format version there is.
FORMAT = 1
#: How far in the future a record's time may lie (clock skew between hosts).
MAX_FUTURE = dt.timedelta(minutes=10)
#: A node name: what may appear in ``<node>:<seq>`` keys, subjects and file paths.
NODE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: The category of a record that names none.
DEFAULT_CATEGORY = "hero_os_hourly"


class OtomlError(HeroError):
    """A batch file that cannot be read at all (it is quarantined whole)."""


class RecordError(HeroError):
    """One record that breaks a rule (it is rejected, the others go on)."""


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


@dataclass(frozen=True)
class Rejected:
    """A record that was not accepted, and why."""

    index: int
    key: str | None
    reason: str


@dataclass(frozen=True)
class Batch:
    """A parsed batch file: the good records and the rejected ones."""

    node: str
    hour: dt.datetime
    records: tuple[UsageIn, ...]
    rejected: tuple[Rejected, ...] = field(default=())


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 UTC with a ``Z``, to the second.

    >>> format_time(dt.datetime(2026, 11, 21, 14, 3, 10, tzinfo=dt.UTC))
    '2026-11-21T14:03:10Z'
    """
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, name: str) -> dt.datetime:
    """A quoted RFC 3339 time or quoted Unix seconds, as an aware UTC datetime.

    Raises:
        RecordError: naming *name*.
    """
    if isinstance(value, dt.datetime):
        raise RecordError(f"{name}: times are quoted strings, not TOML datetimes")
    if not isinstance(value, str) or not value:
        raise RecordError(f"{name}: must be a quoted time, not {value!r}")
    if value.isdigit():
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{name}: {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise RecordError(f"{name}: {value!r} has no time zone; use Z (UTC)")
    return parsed.astimezone(dt.UTC)


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def parse_record(raw: Any, *, node: str | None, now: dt.datetime) -> UsageIn:
    """Validate one record (from a file or a NATS message).

    Args:
        node: the node it must belong to, or None to take it from the record.
        now: records more than ``MAX_FUTURE`` after it are refused.

    Raises:
        RecordError: naming the field and the problem.
    """
    if not isinstance(raw, dict):
        raise RecordError("record: must be a table")
    key = raw.get("key")
    record_node = raw.get("node", node)
    if not isinstance(record_node, str) or not NODE_NAME.match(record_node):
        raise RecordError(f"node: {record_node!r} is not a node name")
    if node is not None and record_node != node:
        raise RecordError(f"node: {record_node!r} in a batch of node {node!r}")
    if not isinstance(key, str) or not re.fullmatch(rf"{re.escape(record_node)}:\d{{1,18}}", key):
        raise RecordError(f"key: {key!r} is not <node>:<seq> for node {record_node!r}")
    try:
        user = canonical_address(raw.get("user"))  # type: ignore[arg-type]
    except InvalidAddress as exc:
        raise RecordError(f"user: {exc}") from None
    kind = raw.get("resource_kind")
    if kind not in RESOURCE_KINDS:
        raise RecordError(f"resource_kind: {kind!r} is not one of {', '.join(RESOURCE_KINDS)}")
    category = raw.get("applies_to", DEFAULT_CATEGORY)
    if category not in CATEGORIES:
        raise RecordError(f"applies_to: {category!r} is not one of {', '.join(CATEGORIES)}")
    quantity = _non_negative_int(raw.get("quantity"), "quantity")
    amount = _non_negative_int(raw.get("amount_cents"), "amount_cents")
    occurred = parse_time(raw.get("occurred_at"), "occurred_at")
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


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name}: must be an integer, not {value!r}")
    if value < 0:
        raise RecordError(f"{name}: must not be negative ({value})")
    return value


def loads(data: bytes, *, now: dt.datetime, expect_node: str | None = None) -> Batch:
    """Parse and validate a batch file.

    Raises:
        OtomlError: the file as a whole is unusable (the reason names the field).
    """
    try:
        doc = tomli.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomli.TOMLDecodeError) as exc:
        raise OtomlError(f"not TOML: {exc}") from None
    if doc.get("format") != FORMAT:
        raise OtomlError(f"format: must be {FORMAT}, not {doc.get('format')!r}")
    node = doc.get("node")
    if not isinstance(node, str) or not NODE_NAME.match(node):
        raise OtomlError(f"node: {node!r} is not a node name")
    if expect_node is not None and node != expect_node:
        raise OtomlError(f"node: file says {node!r} but it belongs to {expect_node!r}")
    try:
        hour = parse_time(doc.get("hour"), "hour")
    except RecordError as exc:
        raise OtomlError(str(exc)) from None
    if hour != hour_of(hour):
        raise OtomlError(f"hour: {format_time(hour)} is not on the hour")
    raw_records = doc.get("records", [])
    if not isinstance(raw_records, list):
        raise OtomlError("records: must be an array of tables")
    good: list[UsageIn] = []
    bad: list[Rejected] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_records):
        key = raw.get("key") if isinstance(raw, dict) else None
        try:
            record = parse_record(raw, node=node, now=now)
            if hour_of(record.occurred_at) != hour:
                raise RecordError(
                    f"occurred_at: {format_time(record.occurred_at)} is not in "
                    f"the file's hour {format_time(hour)}"
                )
            if record.key in seen:
                raise RecordError(f"key: {record.key} appears twice in this file")
        except RecordError as exc:
            bad.append(
                Rejected(
                    index=index,
                    key=key if isinstance(key, str) else None,
                    reason=f"records[{index}] ({key}): {exc}",
                )
            )
            continue
        seen.add(record.key)
        good.append(record)
    return Batch(node=node, hour=hour, records=tuple(good), rejected=tuple(bad))


def dumps(node: str, hour: dt.datetime, records: list[UsageIn]) -> bytes:
    """Write a batch file; records sorted by key sequence so rewrites are stable."""
    doc = {
        "format": FORMAT,
        "node": node,
        "hour": format_time(hour_of(hour)),
        "records": [
            {k: v for k, v in r.to_json().items() if k != "node"}
            for r in sorted(records, key=lambda r: r.seq)
        ],
    }
    return tomli_w.dumps(doc).encode("utf-8")


def batch_path(node: str, hour: dt.datetime) -> str:
    """Where a node's batch for *hour* lives in its repo.

    >>> batch_path("node-a", dt.datetime(2026, 11, 21, 14, tzinfo=dt.UTC))
    'nodes/node-a/usage_2026-11-21-14.otoml'
    """
    return f"nodes/{node}/usage_{hour.astimezone(dt.UTC):%Y-%m-%d-%H}.otoml"
