"""The API's :class:`~forewarn.api.control.HealingControl`: operator verbs queued in the state store.

Why a queue and not an executor here: the healing executor's in-memory state (rate limits, budgets,
escalation ladders) has one owner, the responder (``forewarn respond``). This adapter checks what it
can answer at once from the store (the action exists and is still pending: else 404/409; the kill
switch blocks manual triggers), then writes a control request (``forewarn.store.control``) that the
responder's tick applies through its executor, every guard included. Ids make requests idempotent:
approving the same action twice while the first request waits returns the same request.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from forewarn.api.actions import PENDING
from forewarn.api.control import ActionNotFound, ActionRejected
from forewarn.store.db import Store
from forewarn.store.records import Kind

__all__ = ["QueuedControl"]


class Switch(Protocol):
    """The kill switch file (``forewarn.healing.kill_switch.KillSwitch``): any process may set it."""

    def engaged(self) -> bool: ...

    def engage(self, reason: str = ..., actor: str = ...) -> Any: ...

    def release(self) -> Any: ...


class QueuedControl:
    """``HealingControl`` over the store's control requests and the kill switch file."""

    def __init__(
        self,
        store: Store,
        kill_switch: Switch,
        *,
        mode: str,
        known_actions: Collection[str] | None = None,
    ) -> None:
        self.store = store
        self.kill_switch = kill_switch
        self.mode = mode
        self.known_actions = known_actions

    def _pending(self, action_id: str) -> dict[str, Any]:
        record = self.store.get(Kind.ACTION, action_id)
        if record is None:
            raise ActionNotFound(f"no pending action {action_id!r}")
        if record.get("status") != PENDING:
            raise ActionRejected(f"action {action_id!r} is {record.get('status')}, not waiting for approval")
        return record

    def _approval_id(self, action_id: str, record: Mapping[str, Any]) -> str:
        result = record.get("result")
        approval = result.get("approval_id") if isinstance(result, Mapping) else None
        return str(approval or action_id)

    def approve(self, action_id: str, *, actor: str) -> Mapping[str, Any]:
        record = self._pending(action_id)
        payload = {"approval_id": self._approval_id(action_id, record), "action_id": action_id}
        request, _ = self.store.control.submit(f"approve:{action_id}", "approve", action_id, actor, payload)
        return request

    def deny(self, action_id: str, *, actor: str, reason: str) -> Mapping[str, Any]:
        record = self._pending(action_id)
        payload = {
            "approval_id": self._approval_id(action_id, record),
            "action_id": action_id,
            "reason": reason,
        }
        request, _ = self.store.control.submit(f"deny:{action_id}", "deny", action_id, actor, payload)
        return request

    def trigger(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        request_id: str | None = None,
    ) -> Mapping[str, Any]:
        if self.kill_switch.engaged():
            raise ActionRejected("kill switch engaged: no healing runs")
        if self.known_actions is not None and action not in self.known_actions:
            known = ", ".join(sorted(self.known_actions)) or "none"
            raise ActionRejected(f"unknown action {action!r}: the healing config runs only {known}")
        ident = f"trigger:{request_id or uuid.uuid4().hex}"
        payload = {"action": action, "params": dict(params), "reason": reason}
        request, _ = self.store.control.submit(ident, "trigger", service, actor, payload)
        return request

    def set_kill_switch(self, engaged: bool, *, actor: str, reason: str) -> bool:
        if engaged:
            self.kill_switch.engage(reason=reason, actor=actor)
        else:
            self.kill_switch.release()
        return bool(self.kill_switch.engaged())

    def kill_switch_engaged(self) -> bool:
        return bool(self.kill_switch.engaged())

    def executor_mode(self) -> str:
        return self.mode
