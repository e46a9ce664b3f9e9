"""Run ClickPesa's documented JavaScript checksum (``clickpesa_checksum.js``) under node.

``make_vectors`` regenerates the committed fixture ``tests/fixtures/clickpesa_checksum.json``:
``python -m tests.support.js_checksum``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("clickpesa_checksum.js")
VECTORS = Path(__file__).parent.parent / "fixtures" / "clickpesa_checksum.json"
#: The checksum key every vector is signed with.
VECTOR_KEY = "cp_checksum_key_é"

#: Payload texts covering where JavaScript and Python's json disagree.
CASES: tuple[tuple[str, str], ...] = (
    ("amount with two zero decimals", '{"amount": 1000.00, "currency": "USD"}'),
    ("a tenth", '{"amount": 0.1}'),
    ("sum that is no short decimal", '{"amount": 0.30000000000000004}'),
    ("1e21 and beyond", '{"a": 1e21, "b": 1e20, "c": 123456789012345678901234}'),
    ("small exponents", '{"a": 5e-7, "b": 1e-6, "c": 0.000001234, "d": 1.5E-10}'),
    ("large integers", '{"a": 9007199254740993, "b": 12345678901234567890, "c": 2e308}'),
    ("negatives and zero", '{"a": -0, "b": -0.0, "c": -12.50, "d": -1e-7, "e": 0}'),
    ("exponent forms", '{"a": 1E3, "b": 2.5e+2, "c": 10e-1}'),
    (
        "nested objects and arrays",
        '{"data": {"z": [3, {"b": 2, "a": 1.10}], "y": {"d": null, "c": true}}, '
        '"event": "PAYMENT RECEIVED"}',
    ),
    ("integer-like keys", '{"a": 1, "10": 2, "2": 3, "01": 4, "-1": 5, "4294967295": 6, "1.5": 7}'),
    ("integer-like keys nested", '{"x": {"b": 1, "100": 2, "9": 3, "0": 4}}'),
    ("non-ASCII text", '{"customerName": "Zoë Mwanaidi 😀", "city": "Dar es Salaam ☀"}'),
    ("escapes", '{"s": "tab\\t nl\\n quote\\" back\\\\ ctl\\u0001 sep\\u2028 del\\u007f"}'),
    ("lone surrogate", '{"s": "\\ud800 alone"}'),
    ("keys by UTF-16 units", '{"\\uff61": 1, "\\ud83d\\ude00": 2, "Z": 3, "a": 4, "_": 5}'),
    ("a __proto__ key", '{"__proto__": {"x": 1}, "a": 1}'),
    ("checksum fields left out", '{"a": 1, "checksum": "ff", "checksumMethod": "canonical"}'),
    (
        "documented PAYMENT RECEIVED",
        '{"event":"PAYMENT RECEIVED","data":{"id":"ORD123456LCP7890","status":"SUCCESS",'
        '"paymentReference":"abc123def456ghi789","orderReference":"ORD123456",'
        '"collectedAmount":"10000","collectedCurrency":"TZS","message":"success",'
        '"channel":"CRDB DIRECT DEBIT MANDATE","updatedAt":"2024-04-11T04:58:31.036Z",'
        '"createdAt":"2024-04-11T04:58:31.036Z","customer":{"customerName":"John Doe",'
        '"customerEmail":"john@example.com","customerPhoneNumber":"255700000000"}}}',
    ),
    (
        "documented PAYMENT FAILED",
        '{"eventType":"PAYMENT FAILED","data":{"id":"0969231256LCP2C95","status":"FAILED",'
        '"orderReference":"0969231256","message":"Insufficient balance",'
        '"updatedAt":"2024-04-11T04:58:31.036Z","createdAt":"2024-04-11T04:58:31.036Z"}}',
    ),
    (
        "USD payment with JavaScript numbers",
        '{"event": "PAYMENT RECEIVED", "data": {"id": "HERO7LCP1", "status": "SUCCESS", '
        '"orderReference": "HERO7", "collectedAmount": 1000.00, "collectedCurrency": "USD", '
        '"fee": 0.10, "rate": 1e21, "attempts": {"10": 1, "2": 2}, '
        '"customer": {"customerName": "Zoë Mwanaidi"}}}',
    ),
)


def node_binary() -> str | None:
    """The ``node`` on PATH, or None."""
    return shutil.which("node")


class NodeChecksum:
    """One long-lived node process answering checksum questions line by line."""

    def __init__(self, node: str) -> None:
        self._proc = subprocess.Popen(
            [node, str(SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env={**os.environ, "NODE_OPTIONS": ""},
        )

    def ask(self, key: str, body_text: str) -> dict[str, Any]:
        """``{"canonical", "checksum"}`` for *body_text*, or ``{"error"}``."""
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps([key, body_text]) + "\n")
        self._proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self._proc.stdout.readline())
        return answer

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=10)


def js_signed(js: NodeChecksum, body_text: str, key: str) -> bytes:
    """*body_text* (a JSON object) with the checksum node computes added as its last field.

    The text is kept as written, so numbers like ``1000.00`` reach the receiver unchanged.
    """
    answer = js.ask(key, body_text)
    assert "checksum" in answer, answer
    head = body_text.rstrip()
    assert head.endswith("}"), "body_text must be a JSON object"
    return (head[:-1] + f', "checksum": "{answer["checksum"]}"}}').encode("utf-8")


def make_vectors() -> list[dict[str, Any]]:
    """Every case of CASES as node computes it."""
    node = node_binary()
    if node is None:
        raise SystemExit("node is needed to compute the vectors")
    js = NodeChecksum(node)
    try:
        return [{"name": name, "body": body, **js.ask(VECTOR_KEY, body)} for name, body in CASES]
    finally:
        js.close()


if __name__ == "__main__":
    VECTORS.write_text(
        json.dumps({"key": VECTOR_KEY, "vectors": make_vectors()}, ensure_ascii=False, indent=1)
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {VECTORS}")
