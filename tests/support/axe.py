"""axe-core on a Playwright page: the serious and critical violations, in words.

axe-playwright-python ships axe-core's ``axe.min.js`` inside the package, so nothing is
fetched when a test runs; the script is injected with ``page.evaluate``.
"""

from __future__ import annotations

from typing import Any

#: Impacts a page may not have.
BLOCKING = ("serious", "critical")


def blocking_violations(page: Any) -> list[str]:
    """One line per serious or critical axe-core violation on *page* (empty: none)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    lines = []
    for violation in results.response.get("violations", []):
        if violation.get("impact") not in BLOCKING:
            continue
        targets = [" ".join(map(str, n.get("target", []))) for n in violation.get("nodes", [])]
        lines.append(
            f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} "
            f"at {', '.join(targets[:5])}"
        )
    return lines
