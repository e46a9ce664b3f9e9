"""``hero-onboarding check-config``: exit codes and what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.onboarding import EXIT_CONFIG, EXIT_NOT_READY, EXIT_OK, main
from tests.support.environ import clean_environ, prod_env  # noqa: F401 - fixtures
from tests.support.services import free_port


def test_check_config_passes_a_complete_prod_config(prod_env: pytest.MonkeyPatch) -> None:
    assert main(["check-config", "--offline"]) == EXIT_OK


def test_check_config_says_a_complete_prod_config_is_fine(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["check-config", "--offline"])
    assert "configuration is fine for HERO_ENV=prod" in capsys.readouterr().out


def test_check_config_fails_on_a_missing_secret(prod_env: pytest.MonkeyPatch) -> None:
    prod_env.delenv("HERO_STRIPE_WEBHOOK_SECRET")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY


def test_check_config_prints_the_missing_secret(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.delenv("HERO_STRIPE_WEBHOOK_SECRET")
    main(["check-config", "--offline"])
    assert "problem: HERO_STRIPE_WEBHOOK_SECRET: missing secret" in capsys.readouterr().out


def test_check_config_fails_with_sandbox_payments_on(prod_env: pytest.MonkeyPatch) -> None:
    prod_env.setenv("HERO_SANDBOX_PAYMENTS", "true")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY


def test_check_config_prints_sandbox_payments_on(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.setenv("HERO_SANDBOX_PAYMENTS", "true")
    main(["check-config", "--offline"])
    assert "problem: HERO_SANDBOX_PAYMENTS:" in capsys.readouterr().out


def test_check_config_fails_with_sqlite(prod_env: pytest.MonkeyPatch) -> None:
    prod_env.setenv("HERO_DATABASE_URL", "sqlite:///var/hero.db")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY


def test_check_config_prints_sqlite(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.setenv("HERO_DATABASE_URL", "sqlite:///var/hero.db")
    main(["check-config", "--offline"])
    assert "problem: HERO_DATABASE_URL: SQLite" in capsys.readouterr().out


def test_check_config_exits_2_on_a_bad_value(prod_env: pytest.MonkeyPatch) -> None:
    prod_env.setenv("HERO_WORKER_THREADS", "0")
    assert main(["check-config", "--offline"]) == EXIT_CONFIG


def test_check_config_names_the_variable_with_a_bad_value(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.setenv("HERO_AMQP_URL", "http://x")
    main(["check-config", "--offline"])
    assert "HERO_AMQP_URL" in capsys.readouterr().err


def test_check_config_exit_codes_are_0_2_and_3() -> None:
    assert (EXIT_OK, EXIT_CONFIG, EXIT_NOT_READY) == (0, 2, 3)


def test_check_config_fails_without_the_service_mycelium_key(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.delenv("HERO_MYCELIUM_KEY")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY
    assert "problem: HERO_MYCELIUM_KEY: missing" in capsys.readouterr().out


def test_check_config_fails_on_a_key_file_that_is_not_a_key(
    prod_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.bin").write_bytes(b"short")
    prod_env.setenv("HERO_MYCELIUM_KEY", str(tmp_path / "bad.bin"))
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY
    assert "problem: HERO_MYCELIUM_KEY:" in capsys.readouterr().out


def test_check_config_lists_every_problem_not_only_the_first(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.setenv("HERO_DATABASE_URL", "sqlite:///var/hero.db")
    prod_env.setenv("HERO_STRIPE_SECRET_KEY", "sk_test_forgotten")
    prod_env.delenv("HERO_EMAIL_FROM")
    prod_env.delenv("HERO_SENDGRID_API_KEY")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "HERO_DATABASE_URL",
        "HERO_SENDGRID_API_KEY",
        "HERO_STRIPE_SECRET_KEY",
        "HERO_EMAIL_FROM",
    ]


def test_check_config_flags_a_stripe_test_key_in_prod(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.setenv("HERO_STRIPE_SECRET_KEY", "sk_test_forgotten")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY
    assert "problem: HERO_STRIPE_SECRET_KEY: a test-mode key" in capsys.readouterr().out


def test_check_config_flags_the_development_sender_in_prod(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.delenv("HERO_EMAIL_FROM")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY
    out = capsys.readouterr().out
    assert "problem: HERO_EMAIL_FROM: billing@hero.localhost is the development sender" in out


def test_check_config_says_which_service_does_not_answer(
    prod_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.setenv("HERO_DATABASE_URL", f"postgresql://hero@127.0.0.1:{free_port()}/hero")
    prod_env.setenv("HERO_AMQP_URL", f"amqp://hero:pw@127.0.0.1:{free_port()}/hero")
    assert main(["check-config"]) == EXIT_NOT_READY
    out = capsys.readouterr().out
    assert "problem: HERO_DATABASE_URL: PostgreSQL at 127.0.0.1:" in out
    assert "problem: HERO_AMQP_URL: RabbitMQ at 127.0.0.1:" in out
    assert out.count("does not answer") == 2


def test_check_config_says_a_sqlite_database_is_not_migrated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HERO_DATABASE_URL", f"sqlite:///{tmp_path}/hero.db")
    assert main(["check-config"]) == EXIT_NOT_READY
    assert "database not migrated: " in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("role", ["up", "gateway", "worker"])
def test_a_production_role_refuses_to_start_listing_the_problems(
    prod_env: pytest.MonkeyPatch, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prod_env.setenv("HERO_STRIPE_SECRET_KEY", "sk_test_forgotten")
    prod_env.delenv("HERO_EMAIL_FROM")
    assert main([role]) == EXIT_NOT_READY
    err = capsys.readouterr().err
    assert f"{role} refused to start in HERO_ENV=prod" in err and "finds 2 problems" in err
    assert "problem: HERO_STRIPE_SECRET_KEY" in err and "problem: HERO_EMAIL_FROM" in err


@pytest.mark.parametrize("role", ["gateway", "worker", "scheduler"])
def test_a_role_that_needs_rabbitmq_refuses_to_run_without_it(
    role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([role]) == EXIT_CONFIG
    assert "HERO_AMQP_URL is unset" in capsys.readouterr().err
