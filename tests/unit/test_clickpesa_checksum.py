"""ClickPesa's checksum, byte for byte as its documented JavaScript computes it.

The vectors in ``tests/fixtures/clickpesa_checksum.json`` were computed by node running
the docs' JavaScript (``tests/support/clickpesa_checksum.js``); the property test asks
node directly about random payloads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.payments.clickpesa_json import (
    canonical_json,
    clickpesa_checksum,
    js_number,
    parse_json,
)
from tests.support.js_checksum import VECTORS, NodeChecksum, node_binary

FIXTURE = json.loads(VECTORS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", FIXTURE["vectors"], ids=lambda v: v["name"])
def test_canonical_form_and_checksum_match_the_javascript_vectors(vector: dict[str, Any]) -> None:
    payload = parse_json(vector["body"])
    assert canonical_json(payload) == vector["canonical"]
    assert clickpesa_checksum(payload, FIXTURE["key"]) == vector["checksum"]


def test_the_vectors_cover_the_cases_python_json_gets_wrong() -> None:
    by_name = {v["name"]: v for v in FIXTURE["vectors"]}
    assert (
        by_name["amount with two zero decimals"]["canonical"] == '{"amount":1000,"currency":"USD"}'
    )
    assert by_name["integer-like keys"]["canonical"].startswith('{"2":3,"10":2,')
    assert by_name["1e21 and beyond"]["canonical"].startswith('{"a":1e+21,')


@pytest.mark.parametrize(
    ("number", "written"),
    [
        (1000.0, "1000"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (5e-7, "5e-7"),
        (1e-6, "0.000001"),
        (-0.0, "0"),
        (-1.5, "-1.5"),
        (2**53 + 1, "9007199254740992"),
        (10**400, "null"),
        (float("inf"), "null"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (123.456e-10, "1.23456e-8"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(number: float, written: str) -> None:
    assert js_number(number) == written


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"a": NaN}'])
def test_constants_json_does_not_have_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        parse_json(text)


# Random payloads, as raw JSON text, compared with node running the documented script.

_NUMBER_TEXT = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(
        lambda i, f, e: f"{i}.{f}e{e}",
        st.integers(-999, 999),
        st.from_regex(r"[0-9]{1,4}", fullmatch=True),
        st.integers(-30, 30),
    ),
    st.builds(
        lambda i, f: f"{i}.{f}", st.integers(0, 10**6), st.sampled_from(["00", "10", "5", "05"])
    ),
)
_KEYS = st.one_of(
    st.text(max_size=6),
    st.integers(0, 5_000_000_000).map(str),
    st.sampled_from(["__proto__", "01", "-1", "checksum", "collectedAmount"]),
)


def _as_text(tree: Any) -> str:
    """Render a tree whose numbers are pre-written texts as compact JSON text."""
    if isinstance(tree, tuple):
        return tree[0]
    if isinstance(tree, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_as_text(v)}" for k, v in tree.items()) + "}"
    if isinstance(tree, list):
        return "[" + ",".join(_as_text(v) for v in tree) + "]"
    return json.dumps(tree, ensure_ascii=bool(len(str(tree)) % 2))


_LEAVES = st.one_of(st.none(), st.booleans(), st.text(max_size=8), _NUMBER_TEXT.map(lambda t: (t,)))
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=12,
)
_PAYLOADS = st.dictionaries(_KEYS, _TREES, max_size=6).map(_as_text)


@pytest.fixture(scope="module")
def node() -> Iterator[NodeChecksum]:
    binary = node_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is required in CI to check the ClickPesa checksum")
        pytest.skip("node is not installed")
    js = NodeChecksum(binary)
    yield js
    js.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_PAYLOADS)
def test_random_payloads_sign_as_the_documented_javascript_does(
    node: NodeChecksum, body: str
) -> None:
    expected = node.ask("k", body)
    assert "error" not in expected, expected
    payload = parse_json(body)
    assert canonical_json(payload) == expected["canonical"]
    assert clickpesa_checksum(payload, "k") == expected["checksum"]
