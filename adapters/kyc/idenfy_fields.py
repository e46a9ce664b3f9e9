"""Reading the fields iDenfy sends, the same way for a webhook and a status answer.

Each reader takes the error to raise (``WebhookRejected`` for a webhook, refused with 400;
``KycAnswerInvalid`` for a status answer) and the path to name in it, so the message says
which field is at fault: ``status.overall: missing``.
"""

from __future__ import annotations

from typing import Any

#: Longest reason code kept, and most tags kept per list.
MAX_CODE = 40
MAX_TAGS = 50


def text(
    obj: dict[str, Any],
    name: str,
    limit: int,
    *,
    required: bool,
    error: type[Exception],
    prefix: str = "",
) -> str | None:
    """A short printable ASCII string, stripped; None when absent and not *required*."""
    value = obj.get(name)
    if value is None:
        if required:
            raise error(f"{prefix}{name}: missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise error(f"{prefix}{name}: must be a non-empty string")
    if len(value) > limit or not value.isascii() or not value.isprintable():
        raise error(f"{prefix}{name}: longer than {limit} or not printable ASCII")
    return value.strip()


def code(obj: dict[str, Any], name: str, *, error: type[Exception], prefix: str = "") -> str | None:
    """A reason code (``DOC_VALIDATED``), or None when absent, empty or unprintable."""
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise error(f"{prefix}{name}: must be a string or null")
    return clean(value) or None


def tags(obj: dict[str, Any], name: str, *, error: type[Exception], prefix: str = "") -> list[str]:
    """A list of reason codes, at most ``MAX_TAGS``; empty when absent."""
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise error(f"{prefix}{name}: must be a list of strings")
    return [c for c in (clean(v) for v in value[:MAX_TAGS]) if c]


def clean(value: str) -> str:
    """A reason code as stored: printable ASCII, cut to ``MAX_CODE``.

    >>> clean("DOC_\\x00VALIDATED" + "X" * 60)[:16], len(clean("A" * 99))
    ('DOC_VALIDATEDXXX', 40)
    """
    return "".join(c for c in value if c.isascii() and c.isprintable())[:MAX_CODE]
