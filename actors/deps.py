"""The process's dependencies: one frozen set, installed once by the composition root.

Actors are module-level functions that dramatiq calls by name, so an actor body cannot
be handed its collaborators as arguments. It reads them here instead: ``current()`` is
the one process-level holder, set once by ``runtime.bootstrap`` (every entry point) and
by the tests' ``deps`` fixture. Pure functions take their collaborators as arguments;
only actor bodies and the thin shells around them call ``current()``.

Nothing is built at import time: ``defaults()`` builds the development defaults when
called, and ``current()`` refuses to answer before something was installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.admin_ops import Refunder
    from actors.aggregator import ForgeAccess
    from actors.credit import CreditPolicy
    from actors.plans import Provisioner
    from adapters.email import EmailSender
    from adapters.kyc import KycStatusSource
    from adapters.payments.clickpesa import ClickPesaProvider
    from settings import Plan


@dataclass(frozen=True)
class Deps:
    """What the actors of one process work with (built from settings by the root)."""

    #: The plans on sale (``HERO_PLANS_JSON``).
    plans: tuple[Plan, ...]
    #: Who assigns, suspends and resumes VMs.
    provisioner: Provisioner
    #: Who sends the notification emails.
    email_sender: EmailSender
    #: Where users reach the gateway: the links in emails start with it (no trailing /).
    public_url: str
    #: Where mirrors live and how to log in to the Forge.
    forge: ForgeAccess
    #: What the credit states are computed against.
    credit_policy: CreditPolicy
    #: ClickPesa's API, or None when ClickPesa is not configured in this process.
    clickpesa: ClickPesaProvider | None = None
    #: Who refunds each provider's payments, by provider name.
    refunders: Mapping[str, Refunder] = field(default_factory=dict)
    #: Operators' Ed25519 public keys (lowercase hex) allowed to sign admin commands.
    operator_pubkeys: tuple[str, ...] = ()
    #: Which action needs a verified identity: none, plan or topup.
    kyc_required_for: str = "none"
    #: Where a session's verdict is asked for when its webhook never came (iDenfy), or None.
    kyc_status: KycStatusSource | None = None
    #: Seconds a session stays pending with no final result before it is asked about, once.
    kyc_check_after_s: int = 7200
    #: Wall clock in seconds since the epoch (ClickPesa's waits and reconciliation).
    clock: Callable[[], float] = time.time

    def but(self, **changes: Any) -> Deps:
        """A copy with *changes* (tests install one for a single test)."""
        return replace(self, **changes)


def defaults(**changes: Any) -> Deps:
    """The development defaults (no settings read), with *changes* applied."""
    from actors.aggregator import ForgeAccess
    from actors.credit import CreditPolicy
    from actors.plans import PoolAssignmentProvisioner
    from adapters.email import FolderSender
    from settings import default_plans

    base = Deps(
        plans=default_plans(),
        provisioner=PoolAssignmentProvisioner(),
        email_sender=FolderSender(folder="var/outbox", sender="billing@hero.localhost"),
        public_url="http://127.0.0.1:8080",
        forge=ForgeAccess(),
        credit_policy=CreditPolicy(),
    )
    return base.but(**changes)


_installed: Deps | None = None


def install(deps: Deps | None) -> Deps | None:
    """Make *deps* this process's dependencies; return the ones installed before."""
    global _installed
    before, _installed = _installed, deps
    return before


def current() -> Deps:
    """This process's dependencies.

    Raises:
        RuntimeError: nothing installed them (an entry point that skipped the root).
    """
    if _installed is None:
        raise RuntimeError("no dependencies installed: call runtime.bootstrap first")
    return _installed


@contextmanager
def installed(deps: Deps) -> Iterator[Deps]:
    """Install *deps* for the ``with`` block, then put back what was there."""
    before = install(deps)
    try:
        yield deps
    finally:
        install(before)
