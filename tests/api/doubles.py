"""A test double of the healing engine's operator interface (``forewarn.api.control.HealingControl``).

It behaves like a tiny engine: actions are pending until approved or denied, the kill switch
blocks manual triggers, unknown ids raise ``ActionNotFound``; every call is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from forewarn.api.control import ActionNotFound, ActionRejected

KNOWN_ACTIONS = {"restart_pool", "failover_email", "failover_sms", "scale_workers"}


class FakeHealing:
    def __init__(self, mode: str = "approve") -> None:
        self.mode = mode
        self.engaged = False
        self.actions: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def add_pending(self, ident: str, service: str, action: str) -> dict[str, Any]:
        record = {
            "id": ident,
            "service": service,
            "action": action,
            "status": "pending",
            "requested_at": datetime(2026, 11, 20, 12, 0, tzinfo=UTC).isoformat(),
            "reason": "predicted pool exhaustion",
        }
        self.actions[ident] = record
        return record

    def _pending(self, action_id: str) -> dict[str, Any]:
        record = self.actions.get(action_id)
        if record is None:
            raise ActionNotFound(f"no pending action {action_id!r}")
        if record["status"] != "pending":
            raise ActionRejected(f"action {action_id!r} is {record['status']}, not pending")
        return record

    def approve(self, action_id: str, *, actor: str) -> Mapping[str, Any]:
        self.calls.append(("approve", actor))
        record = self._pending(action_id)
        record.update(status="succeeded", approved_by=actor, updated_at=datetime.now(UTC).isoformat())
        return record

    def deny(self, action_id: str, *, actor: str, reason: str) -> Mapping[str, Any]:
        self.calls.append(("deny", actor))
        record = self._pending(action_id)
        record.update(
            status="denied", denied_by=actor, deny_reason=reason, updated_at=datetime.now(UTC).isoformat()
        )
        return record

    def trigger(
        self, service: str, action: str, params: Mapping[str, Any], *, actor: str, reason: str
    ) -> Mapping[str, Any]:
        self.calls.append(("trigger", actor))
        if self.engaged:
            raise ActionRejected("kill switch engaged: no healing runs")
        if action not in KNOWN_ACTIONS:
            raise ActionRejected(f"unknown action {action!r}")
        ident = f"manual-{len(self.actions) + 1}"
        record = {
            "id": ident,
            "service": service,
            "action": action,
            "status": "pending" if self.mode == "approve" else "succeeded",
            "requested_at": datetime.now(UTC).isoformat(),
            "reason": reason,
            "params": dict(params),
            "requested_by": actor,
        }
        self.actions[ident] = record
        return record

    def set_kill_switch(self, engaged: bool, *, actor: str, reason: str) -> bool:
        self.calls.append(("kill_switch", actor))
        self.engaged = engaged
        return self.engaged

    def kill_switch_engaged(self) -> bool:
        return self.engaged

    def executor_mode(self) -> str:
        return self.mode


class FakeBudget:
    def __init__(self, left: float) -> None:
        self.left = left

    def remaining_usd(self) -> float | None:
        return self.left
