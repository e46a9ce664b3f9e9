"""Reports from the host's services: validation naming the field, and the CLI."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest
import structlog

from node_agent.cli import EXIT_OK, EXIT_USAGE
from node_agent.journal import Journal
from node_agent.records import cli_report, draft_record
from tests.support.node_cli import USER, run_main
from wire.otoml import RecordError

NOW = dt.datetime(2026, 11, 21, 14, 30, 15, tzinfo=dt.UTC)
GOOD = {"user": USER, "resource_kind": "llm_token", "quantity": 1200, "amount_cents": 3}


class TestDraftRecord:
    """A report is validated by the OTOML rules; errors name the field."""

    def test_defaults_fill_category_and_time(self) -> None:
        record = draft_record(GOOD, node="node-a", now=NOW)

        assert record.applies_to == "hero_os_hourly"
        assert record.occurred_at == NOW
        assert record.node == "node-a"

    def test_address_is_canonicalised(self) -> None:
        raw = {**GOOD, "user": "0520:C662:fd00:9e92:5d99:34ed:0ab8:82ab"}

        assert draft_record(raw, node="node-a", now=NOW).user == USER

    def test_time_is_kept_to_the_second(self) -> None:
        raw = {**GOOD, "occurred_at": "2026-11-21T14:03:10.750Z"}

        record = draft_record(raw, node="node-a", now=NOW)

        assert record.occurred_at == dt.datetime(2026, 11, 21, 14, 3, 10, tzinfo=dt.UTC)

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"user": "1.2.3.4"}, "user"),
            ({"user": "2001:db8::1"}, "user"),
            ({"resource_kind": "gpu"}, "resource_kind"),
            ({"applies_to": "food"}, "applies_to"),
            ({"quantity": -1}, "quantity"),
            ({"quantity": 1.5}, "quantity"),
            ({"quantity": "12"}, "quantity"),
            ({"amount_cents": True}, "amount_cents"),
            ({"occurred_at": "yesterday"}, "occurred_at"),
            ({"occurred_at": "2026-11-21T14:00:00"}, "occurred_at"),
            ({"occurred_at": "2026-11-21T15:00:00Z"}, "occurred_at"),
            ({"key": "node-a:99"}, "key"),
            ({"node": "node-b"}, "node"),
            ({"amount": 3}, "amount"),
        ],
    )
    def test_bad_field_is_named(self, change: dict[str, object], field: str) -> None:
        with pytest.raises(RecordError, match=f"^{field}:"):
            draft_record({**GOOD, **change}, node="node-a", now=NOW)

    @pytest.mark.parametrize("missing", ["user", "resource_kind", "quantity", "amount_cents"])
    def test_missing_field_is_named(self, missing: str) -> None:
        raw = {k: v for k, v in GOOD.items() if k != missing}

        with pytest.raises(RecordError, match=f"^{missing}: missing"):
            draft_record(raw, node="node-a", now=NOW)

    def test_cli_numbers_are_parsed_and_words_are_refused_by_name(self) -> None:
        report = cli_report(
            user=USER, kind="vm_hour", quantity="2", amount_cents="x", applies_to=None, at=None
        )

        assert report["quantity"] == 2
        with pytest.raises(RecordError, match="^amount_cents: must be an integer, not 'x'"):
            draft_record(report, node="node-a", now=NOW)


class TestCli:
    """``hero-node keygen`` and ``record`` in-process."""

    @pytest.fixture(autouse=True)
    def node_environ(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """Only this test's HERO_* variables; logging configuration put back after."""
        for name in list(os.environ):
            if name.startswith("HERO_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("HERO_NODE_NAME", "node-a")
        monkeypatch.setenv("HERO_NODE_JOURNAL", str(tmp_path / "j.db"))
        saved = structlog.get_config()
        yield
        structlog.configure(**saved)

    def test_keygen_writes_a_private_seed_and_prints_the_public_key_last(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "node.key"

        code, out, _ = run_main("keygen", "--out", str(path))

        assert code == EXIT_OK
        seed = bytes.fromhex(path.read_text().strip())
        public = nacl.signing.SigningKey(seed).verify_key.encode().hex()
        assert out.strip().splitlines()[-1] == public
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    def test_keygen_refuses_to_overwrite(self, tmp_path: Path) -> None:
        path = tmp_path / "node.key"
        path.write_text("keep me")

        code, _, err = run_main("keygen", "--out", str(path))

        assert code == EXIT_USAGE
        assert "exists" in err
        assert path.read_text() == "keep me"

    def test_record_prints_the_key(self) -> None:
        code, out, _ = run_main(
            "record",
            "--user",
            USER,
            "--kind",
            "vm_hour",
            "--quantity",
            "1",
            "--amount-cents",
            "10",
            "--at",
            "2026-01-01T10:05:00Z",
        )

        assert code == EXIT_OK
        assert out.strip() == "node-a:1"

    def test_record_with_a_bad_field_exits_2_naming_it(self, tmp_path: Path) -> None:
        code, _, err = run_main(
            "record",
            "--user",
            USER,
            "--kind",
            "vm_hours",
            "--quantity",
            "1",
            "--amount-cents",
            "10",
        )

        assert code == EXIT_USAGE
        assert "resource_kind: 'vm_hours'" in err
        assert Journal(tmp_path / "j.db", node="node-a").counts().journalled == 0

    def test_record_without_a_node_name_exits_2_naming_the_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("HERO_NODE_NAME")

        code, _, err = run_main(
            "record", "--user", USER, "--kind", "vm_hour", "--quantity", "1", "--amount-cents", "10"
        )

        assert code == EXIT_USAGE
        assert "HERO_NODE_NAME" in err
