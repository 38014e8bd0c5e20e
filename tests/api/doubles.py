"""A test double of the healing engine's operator interface (``forewarn.api.control.HealingControl``).

It behaves like a tiny engine: actions are pending until approved or denied, the kill switch
blocks manual triggers, unknown ids raise ``ActionNotFound``; every call is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from forewarn.api.control import ActionNotFound, ActionRejected
from forewarn.events import ActionEvent

KNOWN_ACTIONS = {"restart_pool", "failover_email", "failover_sms", "scale_workers"}


def _event(ident: str, service: str, action: str, at: datetime, reason: str, **fields: Any) -> ActionEvent:
    return ActionEvent(
        id=ident,
        service=service,
        timestamp=at,
        incident_id=ident,
        trigger_id=ident,
        issue_class="manual",
        mode="approve",
        status="pending_approval",
        action=action,
        detail=reason,
        **fields,
    )


class FakeHealing:
    def __init__(self, mode: str = "approve") -> None:
        self.mode = mode
        self.engaged = False
        self.actions: dict[str, ActionEvent] = {}
        self.calls: list[tuple[str, str]] = []

    def add_pending(self, ident: str, service: str, action: str) -> dict[str, Any]:
        at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        record = _event(ident, service, action, at, "predicted pool exhaustion")
        self.actions[ident] = record
        return record.model_dump(mode="json")

    def _pending(self, action_id: str) -> ActionEvent:
        record = self.actions.get(action_id)
        if record is None:
            raise ActionNotFound(f"no pending action {action_id!r}")
        if record.status != "pending_approval":
            raise ActionRejected(f"action {action_id!r} is {record.status}, not pending")
        return record

    def _decide(self, action_id: str, **update: Any) -> ActionEvent:
        record = self._pending(action_id).model_copy(update={"updated_at": datetime.now(UTC), **update})
        self.actions[action_id] = record
        return record

    def approve(self, action_id: str, *, actor: str) -> ActionEvent:
        self.calls.append(("approve", actor))
        return self._decide(action_id, status="succeeded", decided_by=actor)

    def deny(self, action_id: str, *, actor: str, reason: str) -> ActionEvent:
        self.calls.append(("deny", actor))
        return self._decide(action_id, status="denied", decided_by=actor, detail=reason)

    def trigger(
        self, service: str, action: str, params: Mapping[str, Any], *, actor: str, reason: str
    ) -> ActionEvent:
        self.calls.append(("trigger", actor))
        if self.engaged:
            raise ActionRejected("kill switch engaged: no healing runs")
        if action not in KNOWN_ACTIONS:
            raise ActionRejected(f"unknown action {action!r}")
        ident = f"manual-{len(self.actions) + 1}"
        record = _event(ident, service, action, datetime.now(UTC), reason, params=dict(params))
        if self.mode != "approve":
            record = record.model_copy(update={"status": "succeeded"})
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
