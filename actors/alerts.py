"""Alerts for operators: raised once per open problem, listed by ``hero-admin alerts``."""

from __future__ import annotations

import json
from typing import Any

import structlog

from models import Alert
from wire.times import utcnow

log = structlog.get_logger("hero.alerts")


def raise_alert(kind: str, subject: str, message: str, details: Any = None) -> bool:
    """Record an alert unless the same one is already open; return whether it is new."""
    open_same = Alert.select().where(
        (Alert.kind == kind)
        & (Alert.subject == subject)
        & (Alert.message == message)
        & Alert.resolved_at.is_null()
    )
    if open_same.exists():
        return False
    Alert.create(
        kind=kind,
        subject=subject,
        message=message,
        details=json.dumps(details if details is not None else {}, default=str),
        created_at=utcnow(),
    )
    log.warning("alert.raised", kind=kind, subject=subject, message=message)
    return True
