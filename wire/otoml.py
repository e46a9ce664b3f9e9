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
read. The record rules (bounds, formats, enumerations) are ``wire.rules``, shared
with the node agent. A problem with the file itself (not TOML, wrong format, wrong node,
bad hour) raises ``OtomlError`` and nothing else, whatever the bytes; a problem with one
record rejects that record only, so the rest of the file can still be applied.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import tomli
import tomli_w

from wire.errors import HeroError
from wire.otoml_written import written_document
from wire.rules import (
    DEFAULT_CATEGORY,
    MAX_FUTURE,
    MAX_YEAR,
    MIN_YEAR,
    NODE_NAME,
    RecordError,
    UsageIn,
    format_time,
    hour_of,
    is_node_name,
    parse_time,
    short_repr,
    validate_record,
)

__all__ = [
    "DEFAULT_CATEGORY",
    "FORMAT",
    "MAX_FILE_BYTES",
    "MAX_FUTURE",
    "NODE_NAME",
    "Batch",
    "OtomlError",
    "RecordError",
    "Rejected",
    "UsageIn",
    "batch_path",
    "dumps",
    "format_time",
    "hour_of",
    "loads",
    "parse_record",
    "parse_time",
]

#: The only format version there is.
FORMAT = 1
#: The largest batch file read (a full hour of a busy node is far below it).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: The span of one batch file.
ONE_HOUR = dt.timedelta(hours=1)
#: Validate one record; the same rules as the node agent's.
parse_record = validate_record


class OtomlError(HeroError):
    """A batch file that cannot be read at all (it is quarantined whole)."""


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


def loads(data: bytes | str, *, now: dt.datetime, expect_node: str | None = None) -> Batch:
    """Parse and validate a batch file.

    Raises:
        OtomlError: the file as a whole is unusable (the reason names the field); no
            other exception escapes, whatever *data* holds.
    """
    doc = _document(data)
    form = doc.get("format")
    if type(form) is not int or form != FORMAT:
        raise OtomlError(f"format: must be {FORMAT} (an integer), not {short_repr(form)}")
    node = doc.get("node")
    if not is_node_name(node):
        raise OtomlError(f"node: {short_repr(node)} is not a node name")
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
        key = key if isinstance(key, str) and len(key) <= 100 else None
        try:
            record = _record(raw, node=node, hour=hour, now=now)
            if record.key in seen:
                raise RecordError(f"key: {record.key} appears twice in this file")
        except RecordError as exc:
            bad.append(Rejected(index=index, key=key, reason=f"records[{index}] ({key}): {exc}"))
            continue
        seen.add(record.key)
        good.append(record)
    return Batch(node=node, hour=hour, records=tuple(good), rejected=tuple(bad))


def _document(data: bytes | str) -> dict[str, Any]:
    """The TOML document, or ``OtomlError``: tomli also raises ValueError (an integer
    of more than 4300 digits) and RecursionError (deep nesting). A file in the form
    ``dumps`` writes is read without tomli (``wire.otoml_written``), to the same document."""
    if len(data) > MAX_FILE_BYTES:
        raise OtomlError(f"file: {len(data)} bytes, more than {MAX_FILE_BYTES}")
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        return written_document(text) or tomli.loads(text)
    except (UnicodeDecodeError, tomli.TOMLDecodeError) as exc:
        raise OtomlError(f"not TOML: {_short_text(exc)}") from None
    except (ValueError, RecursionError, OverflowError) as exc:
        raise OtomlError(f"not TOML: {type(exc).__name__}: {_short_text(exc)}") from None


def _record(raw: Any, *, node: str, hour: dt.datetime, now: dt.datetime) -> UsageIn:
    """One record of the file: the shared rules, and its time inside the file's hour."""
    try:
        record = validate_record(raw, node=node, now=now)
    except RecordError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # The rules raise only RecordError; this keeps the codec's promise regardless.
        raise RecordError(f"record: {type(exc).__name__}") from None
    # hour is on the hour: the same test as hour_of(occurred_at) == hour, without the
    # astimezone and replace a record (a fifth of the rules' time per record)
    if not hour <= record.occurred_at < hour + ONE_HOUR:
        raise RecordError(
            f"occurred_at: {format_time(record.occurred_at)} is not in "
            f"the file's hour {format_time(hour)}"
        )
    return record


def dumps(node: str, hour: dt.datetime, records: list[UsageIn]) -> bytes:
    """Write a batch file; records sorted by key sequence so rewrites are stable.

    Raises:
        OtomlError: something that could not be read back (a bad node name, a year
            outside ``MIN_YEAR``..``MAX_YEAR``).
    """
    if not is_node_name(node):
        raise OtomlError(f"node: {short_repr(node)} is not a node name")
    for moment in [hour, *(r.occurred_at for r in records)]:
        if not MIN_YEAR <= moment.astimezone(dt.UTC).year <= MAX_YEAR:
            raise OtomlError(f"{format_time(moment)}: outside the years {MIN_YEAR}..{MAX_YEAR}")
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
    t = hour.astimezone(dt.UTC)
    return f"nodes/{node}/usage_{t.year:04d}-{t.month:02d}-{t.day:02d}-{t.hour:02d}.otoml"


def _short_text(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
