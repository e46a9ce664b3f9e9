"""The statement: every ledger entry of one account, filtered, a page at a time (read-only).

Pages are cut by a cursor (the id of the last entry shown), never an offset, so an entry
written while someone reads page 2 neither repeats nor hides a line on page 3.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from gateway.dashboard import reason
from gateway.humantime import iso_utc
from models import Account, LedgerEntry
from models.accounts import LEDGER_KINDS

#: Entries on one page of the statement.
PAGE_SIZE = 50
#: Most entries one CSV download holds; a longer range is refused with a clear message.
MAX_CSV_ROWS = 100_000
#: Entries read from the database at once while writing a CSV.
_CSV_CHUNK = 1_000
#: Earliest and latest dates a filter accepts (the day after the latest still exists).
MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(9998, 12, 31)
#: Largest cursor accepted (ledger ids are BIGINT).
MAX_CURSOR = 2**63 - 1
#: The kinds in the words the filter shows.
KIND_LABELS = {
    "payment": "Top-ups",
    "refund": "Refunds",
    "usage": "Usage",
    "plan_purchase": "Plans",
    "adjustment": "Adjustments",
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A CSV cell starting with one of these is a formula to a spreadsheet: quote it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BadFilter(ValueError):
    """A statement filter a user gave is not usable; ``field`` names which one."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


class TooManyRows(ValueError):
    """The filtered statement is longer than one CSV download holds."""


@dataclass(frozen=True)
class StatementQuery:
    """What a user asked to see: a date range (inclusive, UTC days), kinds, a cursor."""

    start: dt.date | None = None
    end: dt.date | None = None
    kinds: tuple[str, ...] = ()
    cursor: int | None = None

    def params(self, *, cursor: int | None = None) -> list[tuple[str, str]]:
        """The query string pairs that ask for this filter again (at *cursor*)."""
        pairs: list[tuple[str, str]] = []
        if self.start:
            pairs.append(("from", self.start.isoformat()))
        if self.end:
            pairs.append(("to", self.end.isoformat()))
        pairs.extend(("kind", kind) for kind in self.kinds)
        if cursor is not None:
            pairs.append(("cursor", str(cursor)))
        return pairs


@dataclass(frozen=True)
class Row:
    """One statement line."""

    entry_id: int
    at: dt.datetime
    kind: str
    reason: str
    amount_cents: int
    balance_after_cents: int
    ref: str


@dataclass
class Page:
    """One page of the statement and the cursor of the next, if there is one."""

    rows: list[Row] = field(default_factory=list)
    next_cursor: int | None = None


def _date(name: str, text: str | None) -> dt.date | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadFilter(name, "enter a date as YYYY-MM-DD, like 2026-11-21") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise BadFilter(name, f"choose a date between {MIN_DATE} and {MAX_DATE}")
    return day


def parse_query(
    *, start: str | None, end: str | None, kinds: Sequence[str] | None, cursor: str | None
) -> StatementQuery:
    """The filter of a request's query string.

    Raises:
        BadFilter: naming the field (``from``, ``to``, ``kind`` or ``cursor``) and the problem.
    """
    first, last = _date("from", start), _date("to", end)
    if first and last and last < first:
        raise BadFilter("to", "must be on or after the from date")
    chosen: list[str] = []
    for kind in kinds or ():
        kind = kind.strip()
        if not kind:
            continue
        if kind not in LEDGER_KINDS:
            raise BadFilter("kind", f"{kind[:40]!r} is not one of {', '.join(LEDGER_KINDS)}")
        if kind not in chosen:
            chosen.append(kind)
    position: int | None = None
    if cursor is not None and cursor.strip():
        text = cursor.strip()
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_CURSOR:
            raise BadFilter("cursor", "not a page of this statement; start from the first page")
        position = int(text)
    return StatementQuery(start=first, end=last, kinds=tuple(chosen), cursor=position)


def _entries(account: Account, query: StatementQuery, *, before: int | None) -> object:
    where = LedgerEntry.account == account
    if query.start:
        where &= LedgerEntry.created_at >= dt.datetime.combine(query.start, dt.time(), dt.UTC)
    if query.end:
        after_end = dt.datetime.combine(query.end + dt.timedelta(days=1), dt.time(), dt.UTC)
        where &= LedgerEntry.created_at < after_end
    if query.kinds:
        where &= LedgerEntry.kind.in_(query.kinds)
    if before is not None:
        where &= LedgerEntry.id < before
    return LedgerEntry.select().where(where).order_by(LedgerEntry.id.desc())


def _row(entry: LedgerEntry) -> Row:
    return Row(
        entry_id=entry.id,
        at=entry.created_at,
        kind=entry.kind,
        reason=reason(entry),
        amount_cents=entry.amount_cents,
        balance_after_cents=entry.balance_after_cents,
        ref=entry.ref,
    )


def statement_page(address: str, query: StatementQuery, *, size: int = PAGE_SIZE) -> Page:
    """One page of *address*'s statement, newest first (empty for an unknown address)."""
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return Page()
    entries = list(_entries(account, query, before=query.cursor).limit(size + 1))  # type: ignore[attr-defined]
    page = Page(rows=[_row(e) for e in entries[:size]])
    if len(entries) > size:
        page.next_cursor = page.rows[-1].entry_id
    return page


def statement_rows(address: str, query: StatementQuery) -> Iterator[Row]:
    """Every row of *address*'s filtered statement, newest first, read in chunks.

    Raises:
        TooManyRows: more than ``MAX_CSV_ROWS`` match.
    """
    account = Account.get_or_none(Account.address == address)
    if account is None:
        return
    before: int | None = None
    count = 0
    while True:
        chunk = list(_entries(account, query, before=before).limit(_CSV_CHUNK))  # type: ignore[attr-defined]
        for entry in chunk:
            count += 1
            if count > MAX_CSV_ROWS:
                raise TooManyRows(
                    f"more than {MAX_CSV_ROWS:,} entries match; choose a shorter date range"
                )
            yield _row(entry)
        if len(chunk) < _CSV_CHUNK:
            return
        before = chunk[-1].id


#: The CSV's columns, in order.
CSV_HEADER = (
    "entry_id",
    "time_utc",
    "kind",
    "description",
    "amount_usd",
    "amount_cents",
    "balance_after_usd",
    "balance_after_cents",
    "reference",
)


def dollars(cents: int) -> str:
    """Cents as a plain decimal dollar amount, for spreadsheets.

    >>> dollars(-150), dollars(5), dollars(123456)
    ('-1.50', '0.05', '1234.56')
    """
    whole, frac = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{whole}.{frac:02d}"


def _cell(text: str) -> str:
    """Text a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def statement_csv(rows: Iterator[Row]) -> str:
    """The rows as CSV (RFC 4180, CRLF line ends), with a header line.

    Raises:
        TooManyRows: passed on from *rows*, before anything is returned.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            (
                row.entry_id,
                iso_utc(row.at),
                row.kind,
                _cell(row.reason),
                dollars(row.amount_cents),
                row.amount_cents,
                dollars(row.balance_after_cents),
                row.balance_after_cents,
                _cell(row.ref),
            )
        )
    return out.getvalue()
