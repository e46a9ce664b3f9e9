#!/usr/bin/env bash
# Regenerate the hashed lock files in requirements/ from pyproject.toml with uv.
#
#   lock.txt      runtime dependencies (the Dockerfile installs these)
#   dev-lock.txt  runtime + the `dev` extra (make run, make test, make lint)
#   min-lock.txt  every direct runtime dependency at its declared floor, everything
#                 else as in dev-lock.txt (make test-min proves the floors)
#
# Pins already in a lock file are kept; UPGRADE=1 takes the newest releases instead.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
PY_VERSION=3.11
common=(--quiet --generate-hashes --python-version "$PY_VERSION" --no-header --annotation-style line)
[[ ${UPGRADE:-0} == 1 ]] && common+=(--upgrade)

"$UV" pip compile pyproject.toml "${common[@]}" -o requirements/lock.txt
"$UV" pip compile pyproject.toml --extra dev "${common[@]}" -o requirements/dev-lock.txt

# The dev tools (pytest, hypothesis, ...) stay at their dev-lock.txt pins; only the
# runtime dependencies go down to their floors.
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
"${PYTHON:-python3}" - "$pins" <<'PY'
import re, sys, tomllib
from pathlib import Path

project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
name = lambda req: re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower().replace("_", "-")
dev = {name(r) for r in project["optional-dependencies"]["dev"]}
lines = Path("requirements/dev-lock.txt").read_text().splitlines()
keep = [l.split(" ")[0] for l in lines if "==" in l and name(l) in dev]
Path(sys.argv[1]).write_text("\n".join(keep) + "\n")
PY
# min-lock.txt always starts from scratch: reusing its pins would hide a floor raised later.
rm -f requirements/min-lock.txt
"$UV" pip compile pyproject.toml --extra dev --resolution lowest-direct -c "$pins" \
  --quiet --generate-hashes --python-version "$PY_VERSION" --no-header --annotation-style line \
  -o requirements/min-lock.txt
