"""``python -m tests.chaos``: the full chaos run (``CHAOS_SEED`` replays one)."""

from __future__ import annotations

import sys

from tests.chaos.run import main

sys.exit(main())
