"""The browser of the journey, portal and console tests: Playwright's Chromium page (the
``page`` fixture, imported by the modules that use it), and usage records a page shows."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import need
from tests.support.login import ALICE_ADDRESS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright, closed on leaving (skips without it)."""
    need("Chromium (apt-get install chromium)", CHROMIUM is not None)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page() -> Iterator[object]:
    with launched_chromium() as browser:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        yield context.new_page()


def usage_records(count: int) -> list[dict]:
    moments = [dt.datetime.now(dt.UTC) - dt.timedelta(days=d, minutes=5) for d in range(3)]
    return [
        {
            "key": f"node-a:{i}",
            "node": "node-a",
            "user": ALICE_ADDRESS,
            "resource_kind": "llm_token" if i % 2 else "vm_hour",
            "applies_to": "llm" if i % 2 else "vm",
            "quantity": 100,
            "amount_cents": 7,
            "occurred_at": moments[i % 3].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for i in range(count)
    ]
