"""The process's dependencies in tests: one fixture installs them, and restores after.

Every test starts with the development defaults (emails into the test's own folder) and
an in-process broker; a test that needs another collaborator asks the ``deps`` fixture:
``deps.set(kyc_required_for="plan")``. Whatever the test (or a command line it ran
in-process) installed is put back when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dramatiq

import actors
from actors import deps as process_deps


class DepsSwitch:
    """Changes the installed dependencies for the current test."""

    def set(self, **changes: Any) -> process_deps.Deps:
        """Install the current dependencies with *changes*; return them."""
        new = process_deps.current().but(**changes)
        process_deps.install(new)
        return new

    @property
    def current(self) -> process_deps.Deps:
        return process_deps.current()


@contextmanager
def isolated_deps(folder: Path) -> Iterator[DepsSwitch]:
    """Defaults and an in-process broker for one test, then what was there before."""
    from adapters.email import FolderSender

    broker_before = actors.broker
    global_before = dramatiq.broker.global_broker
    deps_before = process_deps.install(
        process_deps.defaults(
            email_sender=FolderSender(
                folder=str(folder / "outbox"), sender="billing@hero.localhost"
            )
        )
    )
    actors.build_broker(None)
    try:
        yield DepsSwitch()
    finally:
        process_deps.install(deps_before)
        actors.broker = broker_before
        if global_before is not None:
            dramatiq.set_broker(global_before)
