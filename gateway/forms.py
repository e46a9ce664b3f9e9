"""Reading request bodies, the same way on every route.

One JSON decoder refuses what valid JSON can still smuggle into Python (nesting deep
enough to exhaust the stack, numbers that become ``inf`` or overflow a database
column, ``\\ud800`` escapes that no database or encoder accepts), and one accessor
turns a form or JSON field into text, refusing arrays and objects where text belongs.
Every refusal is a 400 whose description starts with the field's name.
"""

from __future__ import annotations

import json
import math
from typing import Any

import falcon
import falcon.media

#: Deepest nesting of arrays and objects a request body may have.
MAX_DEPTH = 32
#: Largest integer magnitude a body may carry (a signed 64-bit database column).
MAX_INT = 2**63 - 1
#: Longest text a single field may hold.
MAX_FIELD_CHARS = 4096


def _bad_body(problem: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Invalid JSON", description=f"body: {problem}")


def _int(text: str) -> int:
    # Python refuses more than 4300 digits itself (ValueError, so still a 400).
    value = int(text)
    if abs(value) > MAX_INT:
        raise _bad_body(f"the number {text[:20]}... is out of range")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _bad_body(f"the number {text[:20]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise _bad_body(f"{name} is not a JSON number")


def loads(text: str) -> Any:
    """``json.loads`` for request bodies.

    Raises:
        falcon.HTTPBadRequest: naming the problem (nesting, a number, a lone surrogate).
        ValueError: not JSON (falcon answers 400 "Invalid JSON").
    """
    try:
        data = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise _bad_body(f"nested deeper than {MAX_DEPTH} levels") from None
    _check(data)
    return data


def _check(data: Any) -> None:
    """Walk *data* without recursion: depth and text that encodes as UTF-8."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                raise _bad_body("a string holds a lone surrogate (\\ud800-\\udfff)")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise _bad_body(f"nested deeper than {MAX_DEPTH} levels")
        items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        for key, item in items:
            if key is not None:
                stack.append((key, depth))
            stack.append((item, depth + 1))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def media_handlers() -> falcon.media.Handlers:
    """The request body types the gateway reads: JSON and URL-encoded forms.

    Multipart is left out (no route takes a file), so such a body is a 415.
    """
    return falcon.media.Handlers(
        {
            falcon.MEDIA_JSON: falcon.media.JSONHandler(loads=loads),
            falcon.MEDIA_URLENCODED: falcon.media.URLEncodedFormHandler(),
        }
    )


def body(req: falcon.Request) -> dict[str, Any]:
    """The request's form or JSON object (empty when there is no body).

    Raises:
        falcon.HTTPBadRequest: the body is JSON but not an object.
    """
    data = req.get_media(default_when_empty={})
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise falcon.HTTPBadRequest(
            title="Invalid request", description="body: send a form or a JSON object"
        )
    return data


def text(data: dict[str, Any], name: str, *, max_chars: int = MAX_FIELD_CHARS) -> str:
    """Field *name* of a form or JSON object as trimmed text; ``""`` when absent or null.

    Numbers and booleans read as their text; a field sent twice in a form, an array or
    an object is refused.

    Raises:
        falcon.HTTPBadRequest: description ``"<name>: ..."``.
    """
    value = data.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        kind = "a list (or a field sent twice)" if isinstance(value, list) else "an object"
        raise falcon.HTTPBadRequest(
            title="Invalid field", description=f"{name}: must be one text value, not {kind}"
        )
    if len(value) > max_chars:
        raise falcon.HTTPBadRequest(
            title="Invalid field",
            description=f"{name}: {len(value)} characters; the limit is {max_chars}",
        )
    if not _encodable(value) or "\x00" in value:
        raise falcon.HTTPBadRequest(
            title="Invalid field", description=f"{name}: holds characters that are not text"
        )
    return value.strip()
