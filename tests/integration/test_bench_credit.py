"""The bench's credit section runs in a fresh process, as ``make bench`` runs it.

It posts balance changes in its own process, which needs the process's dependencies
installed; run inside the test session (whose fixtures install them) a missing install
would go unseen, so the section runs in a subprocess of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.procs import REPO

SCRIPT = """
import json, sys
from pathlib import Path
from bench import credit_latency
figures, checks = credit_latency.run(8, 8, Path(sys.argv[1]))
print(json.dumps({
    "figures": [f.name for f in figures],
    "checks": [[c.name, c.ok, c.detail] for c in checks],
}))
"""


def test_the_credit_section_measures_in_a_fresh_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert any("p99" in name for name in result["figures"]), result
    assert result["checks"] and all(ok for _, ok, _ in result["checks"]), result["checks"]
