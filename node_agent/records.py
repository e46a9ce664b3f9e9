"""What a service on the host reports, validated before the journal gives it a key.

One rule set for ``hero-node record`` and ``POST /usage``: ``wire.rules``
(shared with the service's codec, bridge and usage actor), with the node's name and a
placeholder key (the journal assigns the real one). Errors name the field:
``RecordError("quantity: must be ...")``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from wire.rules import DEFAULT_CATEGORY, RecordError, UsageIn, format_time, validate_record

#: The fields a report may carry; ``key`` and ``node`` are the agent's to set.
FIELDS = ("user", "resource_kind", "quantity", "amount_cents", "applies_to", "occurred_at")
#: The fields a report must carry.
REQUIRED = ("user", "resource_kind", "quantity", "amount_cents")


def draft_record(raw: Any, *, node: str, now: dt.datetime) -> UsageIn:
    """Validate one report; the result's key is a placeholder ``<node>:0``.

    Args:
        raw: a JSON object with ``FIELDS``; ``occurred_at`` defaults to *now*,
            ``applies_to`` to ``hero_os_hourly``.
        node: this node's name.
        now: the current time (UTC); also the limit for times in the future.

    Returns:
        The record, its time truncated to the second (the precision of every format).

    Raises:
        RecordError: naming the field and the problem.
    """
    if not isinstance(raw, Mapping):
        raise RecordError("body: must be a JSON object")
    for name in raw:
        if name not in FIELDS:
            raise RecordError(f"{name}: unknown field; a report has {', '.join(FIELDS)}")
    for name in REQUIRED:
        if raw.get(name) is None:
            raise RecordError(f"{name}: missing")
    fields = {
        "applies_to": DEFAULT_CATEGORY,
        "occurred_at": format_time(now),
        **{k: v for k, v in raw.items() if v is not None},
        "key": f"{node}:0",
        "node": node,
    }
    record = validate_record(fields, node=node, now=now)
    return dataclasses.replace(record, occurred_at=record.occurred_at.replace(microsecond=0))


def cli_report(
    *,
    user: str,
    kind: str,
    quantity: str,
    amount_cents: str,
    applies_to: str | None,
    at: str | None,
) -> dict[str, Any]:
    """The report that ``hero-node record`` arguments describe (numbers parsed, if they are)."""
    return {
        "user": user,
        "resource_kind": kind,
        "quantity": _integer(quantity),
        "amount_cents": _integer(amount_cents),
        "applies_to": applies_to,
        "occurred_at": at,
    }


def _integer(text: str) -> int | str:
    """*text* as an int when it is one, else unchanged (so validation names the field)."""
    return int(text) if re.fullmatch(r"[+-]?[0-9]{1,18}", text.strip(), re.ASCII) else text


def field_of(error: RecordError) -> str:
    """The field a ``RecordError`` names (its text up to the first colon)."""
    return str(error).split(":", 1)[0]
