"""hero-admin's human views: text from users and nodes can neither spoof nor crash them,
and JSON output stays exact."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import admin_views
from cli.admin_common import make_console, print_json, safe, visible
from models import Account, Alert, Node
from settings import Settings

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
HOSTILE = [
    "[/]x@y.zz",
    "[link=https://evil.example]click[/link]",
    "\x1b[2J\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "ok\nfake: line",
    "right\u202eto-left",
    ":warning: [bold red]PAID[/]",
    "trailing\\",
    "[@click=app.quit]x[/]",
    "\\[not a tag",
    "\\\\[b]bold?",
]
#: Characters that must never reach the terminal raw.
HIDDEN = {"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"}

texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
    st.lists(st.sampled_from(["[", "]", "/", "\\", "link=", "b", "x", "\x1b", ":", "@", " "])).map(
        "".join
    ),
)


@pytest.fixture
def views_settings(sqlite_db: str) -> Iterator[Settings]:
    yield Settings(database_url=sqlite_db)


def render(view: str, settings_: Settings, **args: object) -> str:
    out = io.StringIO()
    console = make_console(out)
    console.width = 4000
    namespace = argparse.Namespace(**{"json": False, "all": True, **args})
    getattr(admin_views, view)(namespace, settings_, console)
    return out.getvalue()


def assert_terminal_safe(output: str, *texts_: str) -> None:
    assert "\x1b" not in output
    assert not [c for c in output if c != "\n" and unicodedata.category(c) in HIDDEN]
    for text in texts_:
        assert visible(text).strip() in output


class TestSafe:
    """safe() shows control characters and escapes markup; visible() only the first."""

    def test_escape_sequences_are_shown_not_sent(self) -> None:
        assert visible("a\x1b[31mb\x07\u202e") == "a\\x1b[31mb\\x07\\u202e"

    def test_markup_is_escaped(self) -> None:
        assert safe("[link=https://evil]click[/link]") == "\\[link=https://evil]click\\[/link]"

    @pytest.mark.parametrize("text", HOSTILE)
    def test_a_hostile_text_prints_as_it_looks(self, text: str) -> None:
        out = io.StringIO()
        make_console(out).print(f"x {safe(text)} y")
        assert out.getvalue() == f"x {visible(text)} y\n"


def test_user_show_of_an_email_with_markup_neither_crashes_nor_hides_a_link(
    views_settings: Settings,
) -> None:
    Account.create(address=ADDRESS, email="[link=https://evil.example]click[/link]")
    output = render("user_show", views_settings, address=ADDRESS)
    assert "[link=https://evil.example]click[/link]" in output


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(email=texts, node=texts, subject=texts, message=texts)
def test_any_text_from_users_and_nodes_never_crashes_or_reaches_the_terminal_raw(
    views_settings: Settings, email: str, node: str, subject: str, message: str
) -> None:
    # Given rows holding whatever a user, a node or NATS managed to store
    Account.delete().execute()
    Node.delete().execute()
    Alert.delete().execute()
    Account.create(address=ADDRESS, email=email)
    Node.create(name=node, repo_url=f"https://forge.example/{node}", pubkey_hex="ab" * 32)
    Alert.create(kind="quarantine", subject=subject, message=message)

    # Then every view prints them as they look, with nothing raw
    assert_terminal_safe(render("user_show", views_settings, address=ADDRESS), email)
    assert_terminal_safe(render("node_list", views_settings), node)
    assert_terminal_safe(render("alerts", views_settings), subject, message)
    render("user_list", views_settings)

    # And JSON gives the exact text back
    shown = json.loads(render("user_show", views_settings, address=ADDRESS, json=True))
    assert shown["email"] == email
    [alert] = json.loads(render("alerts", views_settings, json=True))
    assert (alert["subject"], alert["message"]) == (subject, message)
    [listed] = json.loads(render("node_list", views_settings, json=True))
    assert listed["name"] == node


def test_a_time_anywhere_in_json_output_has_the_one_machine_form() -> None:
    out = io.StringIO()
    moment = dt.datetime(2026, 11, 21, 16, 3, 10, 250000, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    print_json(make_console(out), {"outcome": {"at": moment}, "day": dt.date(2026, 11, 21)})

    assert json.loads(out.getvalue()) == {
        "outcome": {"at": "2026-11-21T14:03:10Z"},
        "day": "2026-11-21",
    }
