"""What the account settings page shows: the email and its state, the email choices, and
the browsers logged in."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from models import Account, Session
from models.email_prefs import OPTIONAL_KINDS, muted_set

#: Browsers and systems recognised in a User-Agent, first match wins.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
#: Longest text shown for a User-Agent that is not recognised.
UNKNOWN_AGENT_CHARS = 40


def short_agent(user_agent: str) -> str:
    """A User-Agent as a person reads it: browser and system, or its start.

    >>> short_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    'Firefox on Linux'
    >>> short_agent(""), short_agent("curl/8.5.0")
    ('Unknown browser', 'curl')
    """
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    text = re.sub(r"[^ -~]", "", user_agent).strip()[:UNKNOWN_AGENT_CHARS]
    return text or "Unknown browser"


@dataclass(frozen=True)
class SessionLine:
    """One logged-in browser."""

    id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    agent: str
    current: bool


def active_sessions(address: str, *, current_id: int, now: dt.datetime) -> list[SessionLine]:
    """The live sessions of *address*, this browser's first, then the latest seen."""
    rows = Session.select().where(
        (Session.address == address) & Session.ended_at.is_null() & (Session.expires_at > now)
    )
    lines = [
        SessionLine(
            id=row.id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at or row.created_at,
            agent=short_agent(row.user_agent or ""),
            current=row.id == current_id,
        )
        for row in rows
    ]
    return sorted(lines, key=lambda s: (not s.current, -s.last_seen_at.timestamp()))


@dataclass(frozen=True)
class EmailChoice:
    """One kind of email the user may turn off."""

    name: str
    label: str
    wanted: bool


def email_choices(account: Account | None) -> list[EmailChoice]:
    """The optional kinds of email, each with whether *account* wants it."""
    muted = muted_set(account.muted_kinds or "") if account else frozenset()
    return [
        EmailChoice(name=name, label=label, wanted=name not in muted)
        for name, (_, label) in OPTIONAL_KINDS.items()
    ]
