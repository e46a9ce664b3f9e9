"""``hero-onboarding check-config`` on the KYC settings of a production configuration."""

from __future__ import annotations

import pytest

from cli.onboarding import EXIT_NOT_READY, main
from tests.support.environ import clean_environ, prod_env  # noqa: F401 - fixtures


@pytest.mark.parametrize(
    "missing", ["HERO_IDENFY_API_KEY", "HERO_IDENFY_API_SECRET", "HERO_IDENFY_SIGNING_KEY"]
)
def test_idenfy_without_a_key_is_not_ready(
    prod_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    missing: str,
) -> None:
    prod_env.delenv(missing)
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY
    assert f"{missing}: missing; HERO_KYC_PROVIDER is idenfy" in capsys.readouterr().out


def test_the_kyc_sandbox_is_refused_in_prod(
    prod_env: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    prod_env.setenv("HERO_KYC_PROVIDER", "sandbox")
    assert main(["check-config", "--offline"]) == EXIT_NOT_READY
    assert "HERO_KYC_PROVIDER: the KYC sandbox must be off in prod" in capsys.readouterr().out
