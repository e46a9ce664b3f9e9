"""The intake endpoint: only services on the host that hold the token can report usage.

The falcon tests check each answer; the hypothesis suite throws arbitrary headers and
bodies at the real waitress server ``hero-node serve`` runs and expects a 4xx naming the
field, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
import requests
import waitress
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node_agent.intake import MAX_BODY_BYTES, create_intake_app
from node_agent.journal import Journal
from node_agent.keys import NodeKeyError, intake_token
from node_agent.service import record_report

NOW = dt.datetime(2026, 11, 21, 14, 30, 15, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
GOOD = {"user": USER, "resource_kind": "llm_token", "quantity": 1200, "amount_cents": 3}
TOKEN = "t0ken-of-this-test-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
FIELDS = {
    "body",
    "Origin",
    "Authorization",
    "Content-Type",
    "user",
    "resource_kind",
    "quantity",
    "amount_cents",
    "applies_to",
    "occurred_at",
    "journal",
}


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "node-a.db", node="node-a") as opened:
        yield opened


@pytest.fixture
def client(journal: Journal) -> falcon.testing.TestClient:
    app = create_intake_app(
        record=lambda raw: record_report(journal, raw, clock=lambda: NOW), token=TOKEN
    )
    return falcon.testing.TestClient(app)


class TestIntake:
    """POST /usage journals a valid report and answers its key; refuses a bad one by field."""

    def test_valid_report_is_journalled_and_keyed(
        self, client: falcon.testing.TestClient, journal: Journal
    ) -> None:
        resp = client.simulate_post("/usage", json={**GOOD, "applies_to": "llm"}, headers=AUTH)

        assert resp.status_code == 201
        assert resp.json == {"key": "node-a:1"}
        assert [r.record.applies_to for r in journal.unpublished(limit=5)] == ["llm"]

    def test_a_report_without_category_is_billed_by_its_kind(
        self, client: falcon.testing.TestClient, journal: Journal
    ) -> None:
        client.simulate_post("/usage", headers=AUTH, json={**GOOD, "resource_kind": "vm_hour"})

        assert [r.record.applies_to for r in journal.unpublished(limit=5)] == ["vm"]

    def test_bad_report_gets_400_naming_the_field(
        self, client: falcon.testing.TestClient, journal: Journal
    ) -> None:
        resp = client.simulate_post("/usage", json={**GOOD, "quantity": "many"}, headers=AUTH)

        assert resp.status_code == 400
        assert resp.json["field"] == "quantity"
        assert resp.json["error"].startswith("quantity:")
        assert journal.counts().journalled == 0

    def test_body_that_is_not_json_gets_400(self, client: falcon.testing.TestClient) -> None:
        resp = client.simulate_post("/usage", body=b"{nope", headers=AUTH)

        assert resp.status_code == 400
        assert resp.json["field"] == "body"

    @pytest.mark.parametrize(
        "authorization", [None, "", "Bearer", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN]
    )
    def test_a_missing_or_wrong_token_gets_401(
        self, client: falcon.testing.TestClient, journal: Journal, authorization: str | None
    ) -> None:
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization

        resp = client.simulate_post("/usage", json=GOOD, headers=headers)

        assert resp.status_code == 401
        assert resp.json["field"] == "Authorization"
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert journal.counts().journalled == 0

    def test_a_request_from_a_web_page_gets_403_even_with_the_token(
        self, client: falcon.testing.TestClient, journal: Journal
    ) -> None:
        resp = client.simulate_post(
            "/usage", json=GOOD, headers={**AUTH, "Origin": "https://evil.example"}
        )

        assert resp.status_code == 403
        assert resp.json["field"] == "Origin"
        assert journal.counts().journalled == 0

    @pytest.mark.parametrize(
        "content_type",
        [
            None,
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ],
    )
    def test_a_body_that_is_not_declared_json_gets_415(
        self, client: falcon.testing.TestClient, journal: Journal, content_type: str | None
    ) -> None:
        headers = {"Authorization": AUTH["Authorization"]}
        if content_type is not None:
            headers["Content-Type"] = content_type

        resp = client.simulate_post("/usage", body=json.dumps(GOOD), headers=headers)

        assert resp.status_code == 415
        assert resp.json["field"] == "Content-Type"
        assert journal.counts().journalled == 0

    def test_json_with_a_charset_is_accepted(self, client: falcon.testing.TestClient) -> None:
        resp = client.simulate_post(
            "/usage",
            body=json.dumps(GOOD),
            headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
        )

        assert resp.status_code == 201

    def test_an_empty_token_is_refused_when_the_app_is_built(self) -> None:
        with pytest.raises(ValueError, match="^token:"):
            create_intake_app(record=lambda raw: raw, token="")


class TestIntakeToken:
    """The token is given, or made once in a 0600 file and read back after."""

    def test_a_token_file_is_made_once_with_mode_0600(self, tmp_path: Path) -> None:
        path = tmp_path / "node-a.intake-token"

        first = intake_token(given=None, path=path)
        again = intake_token(given=None, path=path)

        assert first == again and len(first) == 64
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    def test_a_given_token_wins_over_the_file(self, tmp_path: Path) -> None:
        assert intake_token(given=TOKEN, path=tmp_path / "unused") == TOKEN
        assert not (tmp_path / "unused").exists()

    def test_a_short_given_token_is_refused_naming_the_variable(self, tmp_path: Path) -> None:
        with pytest.raises(NodeKeyError, match="^HERO_NODE_INTAKE_TOKEN:"):
            intake_token(given="short", path=tmp_path / "unused")

    def test_an_empty_token_file_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "node-a.intake-token"
        path.write_text("\n")

        with pytest.raises(NodeKeyError, match="HERO_NODE_INTAKE_TOKEN_FILE: .* no token"):
            intake_token(given=None, path=path)


# -- the real HTTP server, under hypothesis ---------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Journal]]:
    """The intake app on waitress (as ``serve`` runs it) on a free port, with a journal."""
    journal = Journal(tmp_path_factory.mktemp("intake") / "node-a.db", node="node-a")
    app = create_intake_app(record=lambda raw: record_report(journal, raw), token=TOKEN)
    server = waitress.create_server(
        app, host="127.0.0.1", port=0, threads=2, max_request_body_size=1024 * 1024
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/usage", journal
    finally:
        server.close()
        journal.close()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
TIMES = st.one_of(
    st.text(),
    st.integers().map(str),
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda t: t.isoformat()),
    st.sampled_from(
        [
            "99999999999999999999",
            "0",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "2026-11-21T14:00:00+14:00",
        ]
    ),
)
REPORTS = st.fixed_dictionaries(
    {},
    optional={
        "user": st.one_of(st.just(USER), st.text()),
        "resource_kind": st.sampled_from(["vm_hour", "llm_token", "hero_os_hour", "other", "x"]),
        "applies_to": st.sampled_from(["vm", "llm", "hero_os_hourly", "food"]) | st.none(),
        "quantity": st.integers() | JSON_VALUES,
        "amount_cents": st.integers() | JSON_VALUES,
        "occurred_at": TIMES | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)
MUTATED = st.builds(
    lambda name, value: {**GOOD, name: value},
    st.sampled_from([*GOOD, "applies_to", "occurred_at", "key", "node"]),
    TIMES | JSON_VALUES,
)
BODIES = st.one_of(
    REPORTS.map(lambda r: json.dumps(r).encode()),
    MUTATED.map(lambda r: json.dumps(r).encode()),
    st.just(json.dumps(GOOD).encode()),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.just(b"[" * 5000 + b"]" * 5000),
    st.just(b"x" * (MAX_BODY_BYTES + 1)),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from([f"Bearer {TOKEN}", "Bearer nope", ""]),
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "text/plain",
                "APPLICATION/JSON",
                "application/json; charset=utf-8",
                "",
            ]
        ),
        "Origin": st.sampled_from(["null", "https://example.org", "http://127.0.0.1"]),
    },
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, headers=st.one_of(st.just(AUTH), HEADERS))
def test_any_request_gets_201_or_a_4xx_naming_the_field(
    served: tuple[str, Journal], body: bytes, headers: dict[str, str]
) -> None:
    url, journal = served
    before = journal.counts().journalled

    resp = requests.post(url, data=body, headers=headers, timeout=10)

    after = journal.counts().journalled
    event(f"HTTP {resp.status_code}")
    assert resp.status_code in (201, 400, 401, 403, 413, 415), resp.text
    answer: Any = resp.json()
    if resp.status_code == 201:
        assert after == before + 1 and answer["key"].startswith("node-a:")
        return
    assert after == before
    assert answer["error"]
    if "unknown field" not in answer["error"]:  # else the field is the body's own name
        assert answer["field"] in FIELDS | {"key", "node"}, answer
