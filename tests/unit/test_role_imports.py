"""A worker or a bridge does not load the gateway: its start-up is part of how fast a
usage backlog is worked off after a restart."""

from __future__ import annotations

import subprocess
import sys

GATEWAY_ONLY = ("falcon", "fpdf", "gateway.app", "runtime.gateway")


def test_the_command_line_loads_the_gateway_only_for_the_roles_that_serve_it() -> None:
    code = (
        "import sys, cli.onboarding; "
        f"print(','.join(m for m in {GATEWAY_ONLY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
