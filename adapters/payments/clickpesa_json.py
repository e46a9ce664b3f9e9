"""ClickPesa's checksum, byte for byte as its documented JavaScript computes it.

ClickPesa's checksum page (https://docs.clickpesa.com/home/checksum, "Generating Payload
Checksum") gives the algorithm as JavaScript: ``canonicalize`` rebuilds every object with
``Object.keys(obj).sort()`` inserted into a fresh ``{}``, ``JSON.stringify`` writes it,
and the HMAC-SHA256 hex of that string is the checksum. So the bytes signed are what a
JavaScript engine writes, which differs from Python's ``json`` in four ways this module
reproduces:

- numbers are IEEE doubles written by ``Number.prototype.toString``: ``1000.00`` is
  ``1000``, ``1e21`` is ``1e+21``, ``5e-7`` is ``5e-7``, ``-0`` is ``0``, integers beyond
  2**53 lose their low digits, and a literal too large for a double is ``null``;
- an object's integer-like keys ("0" .. "4294967294") come first in ascending numeric
  order, whatever the sort said; the rest follow in ``sort()`` order, which compares
  UTF-16 code units, not code points;
- a ``__proto__`` key is lost: assigning it into ``{}`` sets the prototype instead;
- strings are written raw (no ``\\u`` escapes for non-ASCII), with lone surrogates and
  control characters escaped as lowercase ``\\uXXXX``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

#: Body fields a checksum never covers.
UNSIGNED_FIELDS = ("checksum", "checksumMethod")
#: Largest array index JavaScript treats as an integer-like property key.
_MAX_INDEX = 2**32 - 2
_INDEX_KEY = re.compile(r"0|[1-9][0-9]{0,9}")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


class JsonNumber(float):
    """A JSON number as JavaScript holds it (a double) that remembers its source text.

    >>> n = JsonNumber("1000.00"); (float(n), n.text)
    (1000.0, '1000.00')
    """

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


def parse_json(body: bytes | str) -> Any:
    """*body* parsed as ``JSON.parse`` would: every number a ``JsonNumber``.

    Raises:
        ValueError: not JSON, or ``NaN``/``Infinity``, which JSON does not have.
    """

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(body, parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=refuse)


def js_number(value: float | int | Decimal) -> str:
    """*value* as JavaScript's ``JSON.stringify`` writes the double nearest to it.

    >>> [js_number(v) for v in (1000.0, 0.1, 1e21, 123e18, 5e-7, 1e-6, -0.0)]
    ['1000', '0.1', '1e+21', '123000000000000000000', '5e-7', '0.000001', '0']
    """
    try:
        number = float(value)
    except OverflowError:  # a Python int beyond any double: JavaScript's Infinity
        return "null"
    if not math.isfinite(number):
        return "null"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    # repr() is the shortest round-tripping form, as ECMAScript's Number::toString asks.
    digits_t, exponent = Decimal(repr(abs(number))).normalize().as_tuple()[1:]
    digits = "".join(map(str, digits_t))
    k = len(digits)
    n = int(exponent) + k  # the value is 0.digits * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_string(text: str) -> str:
    """*text* as ``JSON.stringify`` writes it (raw UTF-8 apart from the escapes JSON needs).

    >>> print(js_string('Zoë "\\u2028" \\x01'))
    "Zoë \\"\\u2028\\" \\u0001"
    """

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return '"' + _NEEDS_ESCAPE.sub(escape, text) + '"'


def js_key_order(keys: list[str]) -> list[str]:
    """The order ``JSON.stringify`` writes an object built by inserting ``sorted(keys)``.

    >>> js_key_order(["b", "10", "a", "2", "01", "\\uff61", "\\U0001f600"])
    ['2', '10', '01', 'a', 'b', '😀', '｡']
    """
    ordered = sorted(keys, key=lambda k: k.encode("utf-16-be"))
    indices = sorted((k for k in ordered if _is_index(k)), key=int)
    return indices + [k for k in ordered if not _is_index(k) and k != "__proto__"]


def _is_index(key: str) -> bool:
    return _INDEX_KEY.fullmatch(key) is not None and int(key) <= _MAX_INDEX


def js_canonical(value: Any) -> str:
    """``JSON.stringify(canonicalize(value))`` for a value from ``parse_json`` or Python."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return js_string(value)
    if isinstance(value, int | float | Decimal):
        return js_number(value)
    if isinstance(value, Mapping):
        parts = (f"{js_string(k)}:{js_canonical(value[k])}" for k in js_key_order(list(value)))
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_canonical(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_json(payload: Mapping[str, Any]) -> str:
    """*payload* minus the checksum fields, as ClickPesa's JavaScript serialises it.

    >>> canonical_json({"b": {"y": 1, "x": "é"}, "a": [], "checksum": "ff", "10": 1000.0})
    '{"10":1000,"a":[],"b":{"x":"é","y":1}}'
    """
    return js_canonical({k: v for k, v in payload.items() if k not in UNSIGNED_FIELDS})


def clickpesa_checksum(payload: Mapping[str, Any], key: str) -> str:
    """ClickPesa's checksum of *payload*: hex HMAC-SHA256 of its canonical JSON.

    Args:
        payload: a request or webhook body; ``checksum``/``checksumMethod`` are ignored.
        key: the application's checksum key (not the API key).

    >>> clickpesa_checksum({"orderReference": "HERO1", "totalPrice": "1.00"}, "k")
    '6cafa7d206c5dc9e84b9ac0635069b05215f533a7739f9a563a63668107c9c72'
    """
    message = canonical_json(payload).encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()
