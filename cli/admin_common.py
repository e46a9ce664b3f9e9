"""What the hero-admin commands share: exit codes and how listings are printed."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from models.address import canonical_address
from models.errors import InvalidAddress
from models.money import format_cents

#: Done as asked.
EXIT_OK = 0
#: Refused, or the audit found a mismatch.
EXIT_REFUSED = 1
#: Bad usage or configuration.
EXIT_USAGE = 2
#: A change was sent but no worker handled it in time.
EXIT_TIMEOUT = 3


def parse_address_arg(text: str) -> str:
    try:
        return canonical_address(text)
    except InvalidAddress as exc:
        raise SystemExit(f"hero-admin: address: {exc}") from None


def iso(value: Any) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def print_rows(
    rows: list[dict[str, Any]], columns: list[str], as_json: bool, console: Console, title: str
) -> None:
    if as_json:
        console.print_json(json.dumps(rows, default=str)) if rows else console.print("[]")
        return
    if not rows:
        console.print(f"no {title}")
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[cell(column, row.get(column)) for column in columns])
    console.print(table)


def cell(column: str, value: Any) -> str:
    if column.endswith("_cents") and isinstance(value, int):
        return format_cents(value)
    return "" if value is None else str(value)
