"""What the hero-admin commands share: exit codes, safe text and how listings are printed.

Text that users or nodes wrote (emails, node names, NATS subjects, alert messages, error
texts) reaches an operator's terminal only through :func:`safe`: rich markup is escaped
and control characters are shown as escapes, so no one can hide a link, forge a line or
send the terminal an escape sequence. JSON output is written as it is, without rich.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from models.errors import InvalidAddress
from models.money import format_cents
from wire.address import canonical_address
from wire.times import iso_z

#: Done as asked.
EXIT_OK = 0
#: Refused, not found, or the audit found a mismatch.
EXIT_REFUSED = 1
#: Bad usage or configuration.
EXIT_USAGE = 2
#: A change was sent but no worker handled it in time.
EXIT_TIMEOUT = 3
#: The database or the broker cannot be used (down, not migrated, no such vhost).
EXIT_UNAVAILABLE = 4

#: Unicode categories never sent to a terminal as they are: controls, format characters
#: (bidirectional overrides, zero-width), surrogates, unassigned, line and paragraph breaks.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
#: A '[' and the backslashes before it, which rich's markup reads as escapes.
_BRACKET = re.compile(r"(\\*)\[")
#: What follows a '[' that rich's markup reads as a tag (its ``RE_TAGS``).
_TAG_AHEAD = re.compile(r"[a-z#/@][^[]*?]")


def make_console(file: IO[str] | None = None) -> Console:
    """The console every human view prints on: no emoji codes, no highlighting."""
    return Console(file=file, highlight=False, soft_wrap=True, emoji=False)


def visible(text: str) -> str:
    r"""*text* with every control or invisible character written as its escape.

    >>> visible("a\x1b[2Jb\u202e")
    'a\\x1b[2Jb\\u202e'
    """
    return "".join(_shown(ch) for ch in text)


def _shown(ch: str) -> str:
    if unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe(value: Any) -> str:
    r"""*value* as text to put into rich markup: control characters shown, markup escaped.

    >>> safe("[link=https://evil.example]click[/link]")
    '\\[link=https://evil.example]click\\[/link]'
    """
    text = visible("" if value is None else str(value))
    return _BRACKET.sub(lambda match: _escaped_bracket(match, text), text)


def _escaped_bracket(match: re.Match[str], text: str) -> str:
    """Backslashes and '[' as rich's renderer gives them back: before what reads as a tag,
    n backslashes render as n // 2 and an odd one escapes the tag (rich.markup.escape's
    rule); before any other '[', the renderer drops one backslash."""
    backslashes = match.group(1)
    if _TAG_AHEAD.match(text, match.end()):
        return backslashes * 2 + "\\["
    return backslashes + "\\["


def print_json(console: Console, data: Any) -> None:
    """Write *data* as JSON, exactly (non-ASCII and controls as JSON escapes), no markup;
    a time in it in the one machine form (``wire.times.iso_z``)."""
    console.file.write(json.dumps(data, indent=2, default=_json_value) + "\n")
    console.file.flush()


def parse_address_arg(text: str) -> str:
    try:
        return canonical_address(text)
    except InvalidAddress as exc:
        raise SystemExit(f"hero-admin: address: {exc}") from None


def _json_value(value: Any) -> str:
    return iso_z(value) if isinstance(value, dt.datetime) else str(value)


def iso(value: Any) -> str | None:
    return iso_z(value) if value is not None else None


def print_rows(
    rows: list[dict[str, Any]], columns: list[str], as_json: bool, console: Console, title: str
) -> None:
    if as_json:
        print_json(console, rows)
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
    """*value* of *column* as markup-safe text (cents formatted as dollars)."""
    if column.endswith("_cents") and isinstance(value, int):
        return format_cents(value)
    return safe(value)
