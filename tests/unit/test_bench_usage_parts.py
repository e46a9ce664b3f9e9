"""``BENCH_USAGE_PARTS`` picks the runs of the bench's usage section."""

from __future__ import annotations

import pytest

from bench import main, usage


def test_every_part_runs_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_USAGE_PARTS", raising=False)
    assert main._usage_params().parts == usage.PARTS


def test_chosen_parts_run_in_the_sections_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_USAGE_PARTS", " nats, git ")
    assert main._usage_params().parts == ("git", "nats")


def test_an_unknown_part_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_USAGE_PARTS", "git,walk")
    with pytest.raises(SystemExit, match="BENCH_USAGE_PARTS: unknown walk; choose from git"):
        main._usage_params()


def test_the_agent_needs_the_nats_run_it_is_set_against(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_USAGE_PARTS", "agent")
    with pytest.raises(SystemExit, match="agent is set against the nats run"):
        main._usage_params()
