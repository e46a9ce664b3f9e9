"""The node agent that runs on every Hero host: journal, NATS publisher, git committer."""

from __future__ import annotations

import os
import sys

# In the hero-node process itself, structlog is kept from loading rich (pretty tracebacks
# the agent never prints, about 4 MiB of RSS on a host that runs VMs). Other processes that
# merely import the package (the server reads wire.rules) are left as they are.
if "structlog" not in sys.modules and os.path.basename(getattr(sys, "argv", [""])[0] or "") in (
    "hero-node",
    "__main__.py",
):
    sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
