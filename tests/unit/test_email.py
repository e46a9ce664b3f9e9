"""``validate_email``: the one check of an email address, for the web form and hero-admin."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.accounts import MAX_EMAIL_LENGTH, validate_email
from models.errors import InvalidEmail

#: Every character a valid address may hold.
ALLOWED = set(string.ascii_letters + string.digits + "!#$%&'*+/=?^_{|}~.-@")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Bob.Smith+bills@Example.COM\n", "Bob.Smith+bills@example.com"),
        ("o'neil@mail.example.co.uk", "o'neil@mail.example.co.uk"),
        ("x@xn--bcher-kva.ch", "x@xn--bcher-kva.ch"),
        ("a" * 64 + "@" + "b" * 63 + ".com", "a" * 64 + "@" + "b" * 63 + ".com"),
    ],
)
def test_good_addresses_come_back_trimmed_with_a_lower_case_domain(
    text: str, expected: str
) -> None:
    assert validate_email(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("alice", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("alice@localhost", "domain like example.com"),
        ("alice@example..com", "domain like example.com"),
        ("alice@-example.com", "domain like example.com"),
        ("alice@exa_mple.com", "domain like example.com"),
        ("alice@10.0.0.1", "not a number"),
        ("[bold]alice[/]@example.com", "before the @"),
        ("<alice>@example.com", "before the @"),
        ('"alice"@example.com', "before the @"),
        (".alice@example.com", "before the @"),
        ("al..ice@example.com", "before the @"),
        ("a" * 65 + "@example.com", "before the @"),
        ("ali ce@example.com", "spaces or control"),
        ("alice@example.com\x00", "spaces or control"),
        ("alice\x1b[31m@example.com", "spaces or control"),
        ("alice\u200b@example.com", "spaces or control"),
        ("alïce@example.com", "ASCII"),
        ("a@" + "b" * 250 + ".com", f"limit is {MAX_EMAIL_LENGTH}"),
    ],
)
def test_bad_addresses_are_refused_saying_why(text: str, problem: str) -> None:
    with pytest.raises(InvalidEmail, match=problem):
        validate_email(text)


def test_the_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="exactly one @"):
        validate_email("nobody")


@given(st.text(max_size=300))
def test_any_text_is_an_address_or_a_refusal(text: str) -> None:
    try:
        email = validate_email(text)
    except InvalidEmail as exc:
        assert str(exc)
        return
    assert len(email) <= MAX_EMAIL_LENGTH
    assert email.count("@") == 1
    assert set(email) <= ALLOWED
    assert validate_email(email) == email


@given(
    st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,3}\.[a-z]{2,10}", fullmatch=True),
)
def test_ordinary_addresses_pass(local: str, domain: str) -> None:
    if ".." in local:
        return
    assert validate_email(f"{local}@{domain.upper()}") == f"{local}@{domain}"
