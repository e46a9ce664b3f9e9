"""The quick reader of the written batch form: whatever it reads, tomli reads the same."""

from __future__ import annotations

import datetime as dt
from typing import Any

import tomli
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.otoml import dumps, loads
from wire.otoml_written import written_document
from wire.rules import UsageIn

HOUR = dt.datetime(2026, 11, 21, 14, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)
USERS = ["520:c662:fd00:9e92:5d99:34ed:ab8:82ab", "4ff::1", "5ff:ffff::abcd"]


def record(seq: int, user: str, kind: str, category: str, quantity: int, cents: int, s: int):
    return UsageIn(
        key=f"node-a:{seq}",
        node="node-a",
        user=user,
        resource_kind=kind,
        applies_to=category,
        quantity=quantity,
        amount_cents=cents,
        occurred_at=HOUR + dt.timedelta(seconds=s),
    )


records = st.builds(
    record,
    st.integers(1, 10**18 - 1),
    st.sampled_from(USERS),
    st.sampled_from(["vm_hour", "llm_token", "other"]),
    st.sampled_from(["vm", "llm", "hero_os_hourly"]),
    st.integers(0, 10**12),
    st.integers(0, 10_000_000),
    st.integers(0, 3599),
)
written = st.lists(records, min_size=1, max_size=5, unique_by=lambda r: r.key).map(
    lambda rs: dumps("node-a", HOUR, rs).decode()
)


def tomli_or_none(text: str) -> dict[str, Any] | None:
    try:
        return tomli.loads(text)
    except Exception:
        return None


def same_as_tomli(text: str) -> None:
    quick = written_document(text)
    if quick is not None:
        assert quick == tomli_or_none(text)


@settings(max_examples=300)
@given(written)
def test_the_written_form_is_read_quickly_to_what_tomli_reads(text: str) -> None:
    quick = written_document(text)
    assert quick is not None
    assert quick == tomli.loads(text)


@settings(max_examples=1000)
@given(written, st.data())
def test_a_changed_file_is_read_as_tomli_reads_it_or_left_to_tomli(text: str, data) -> None:
    """Edits at any place, of the characters that matter to TOML: either the quick reader
    answers what tomli answers, or it answers None (then tomli alone reads the file)."""
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        insert = data.draw(st.text(alphabet='"\\\n\r\t #=[]._:-+0aZT\x00\x7f\u00e9', max_size=3))
        text = text[:at] + insert + text[at + cut :]
    same_as_tomli(text)


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_any_text_is_read_as_tomli_reads_it_or_left_to_tomli(text: str) -> None:
    same_as_tomli(text)


def test_other_layouts_are_left_to_tomli() -> None:
    doc = {"format": 1, "node": "node-a", "hour": "2026-11-21T14:00:00Z"}
    row = {
        "key": "node-a:1",
        "user": USERS[0],
        "resource_kind": "vm_hour",
        "applies_to": "vm",
        "quantity": 1,
        "amount_cents": 2,
        "occurred_at": "2026-11-21T14:00:01Z",
    }
    text = tomli_w.dumps({**doc, "records": [row]})
    assert written_document(text) is not None
    reordered = tomli_w.dumps({**doc, "records": [dict(reversed(row.items()))]})
    same = (
        text.replace("\n", "\r\n"),
        text + "# a comment\n",
        text.replace("quantity = 1", "quantity = +1"),
        text.replace('"vm"', '"v\\u006d"'),
        reordered,
    )
    for other in same:
        assert written_document(other) is None
        assert loads(other, now=NOW) == loads(text, now=NOW)
    for other in (
        text.replace("quantity = 1", "quantity = 0_1"),
        tomli_w.dumps({**doc, "records": []}),
    ):
        assert written_document(other) is None
