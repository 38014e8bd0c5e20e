"""Builders shared by the healing tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forewarn.events import Severity
from forewarn.healing.clock import ManualClock
from forewarn.healing.triggers import Trigger


def at(clock: ManualClock) -> datetime:
    return datetime.fromtimestamp(clock.now(), tz=UTC)


def detection(clock: ManualClock, service: str, kind: str = "failure", **kw: Any) -> Trigger:
    values: dict[str, Any] = {
        "id": f"det-{service}-{kind}-{int(clock.now())}",
        "source": "detection",
        "kind": kind,
        "service": service,
        "severity": Severity.CRITICAL,
        "confidence": 0.9,
        "timestamp": at(clock),
        "reason": f"{service} {kind}",
    }
    values.update(kw)
    return Trigger(**values)
