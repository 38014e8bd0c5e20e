"""Adapt the healing engine (``forewarn.healing.HealingExecutor``) to the API's :class:`HealingControl`.

Why an adapter in the API package: the executor's verbs speak approval ids and ``ActionRecord``s;
the API speaks action ids (the ids the actions topic carries, which is what an operator sees in
``GET /v1/actions/pending``). The adapter resolves one to the other (the pending record's
``result.approval_id``), turns executor refusals into the API's 404/409 errors, and returns action
events in the actions-topic shape so the API can store them at once. Every executor guard still
applies: the adapter never runs an action itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from forewarn.api.control import ActionNotFound, ActionRejected

__all__ = ["ExecutorControl"]

Lookup = Callable[[str], Mapping[str, Any] | None]


class ExecutorControl:
    """``HealingControl`` over a ``HealingExecutor``; ``lookup`` finds an action by id (the store)."""

    def __init__(
        self, executor: Any, lookup: Lookup | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.executor = executor
        self.lookup = lookup
        self.clock = clock

    def _approval(self, action_id: str) -> tuple[str, Mapping[str, Any] | None]:
        pending = {str(a["id"]) for a in self.executor.pending_approvals()}
        if action_id in pending:
            return action_id, self.lookup(action_id) if self.lookup else None
        record = self.lookup(action_id) if self.lookup else None
        result = (record or {}).get("result") or {}
        approval = result.get("approval_id") if isinstance(result, Mapping) else None
        if approval in pending:
            return str(approval), record
        if record is not None:
            raise ActionRejected(f"action {action_id!r} is {record.get('status')}, not waiting for approval")
        raise ActionNotFound(f"no pending action or approval {action_id!r}")

    def _event(self, record: Any, action_id: str | None = None) -> dict[str, Any]:
        from forewarn.healing.runner import action_event

        event = action_event(record)
        if action_id is not None:
            # The decision updates the row the operator acted on (and is newer, so it wins).
            event["id"] = action_id
        return event

    def approve(self, action_id: str, *, actor: str) -> Mapping[str, Any]:
        from forewarn.healing.errors import HealingError

        approval_id, _ = self._approval(action_id)
        try:
            records = self.executor.approve(approval_id, by=actor)
        except HealingError as error:
            raise ActionRejected(str(error)) from None
        if not records:
            raise ActionRejected(f"approval {approval_id!r} produced no action")
        return self._event(records[-1], action_id)

    def deny(self, action_id: str, *, actor: str, reason: str) -> Mapping[str, Any]:
        approval_id, record = self._approval(action_id)
        if not self.executor.reject(approval_id, by=actor):
            raise ActionRejected(f"approval {approval_id!r} was decided or expired meanwhile")
        now = datetime.fromtimestamp(self.clock(), UTC).isoformat()
        base = dict(record or {})
        return {
            **base,
            "id": action_id,
            "service": base.get("service", "unknown"),
            "action": base.get("action") or "decision",
            "status": "denied",
            "timestamp": base.get("timestamp", now),
            "updated_at": now,
            "reason": reason,
            "denied_by": actor,
        }

    def trigger(
        self, service: str, action: str, params: Mapping[str, Any], *, actor: str, reason: str
    ) -> Mapping[str, Any]:
        """A manual trigger: the executor's policies (``sources: [manual]``) decide what runs."""
        from forewarn.healing.triggers import Trigger

        trigger = Trigger(
            id=f"manual-{uuid.uuid4().hex[:12]}",
            source="manual",
            kind=action,
            service=service,
            timestamp=datetime.fromtimestamp(self.clock(), UTC),
            reason=f"{reason} (requested by {actor})",
            details={"requested_action": action, "params": dict(params), "requested_by": actor},
        )
        records = self.executor.handle(trigger)
        if not records:
            raise ActionRejected("the healing engine made no decision for this trigger")
        return self._event(records[-1])

    def set_kill_switch(self, engaged: bool, *, actor: str, reason: str) -> bool:
        if engaged:
            self.executor.kill_switch.engage(reason=reason, actor=actor)
        else:
            self.executor.kill_switch.release()
        return bool(self.executor.kill_switch.engaged())

    def kill_switch_engaged(self) -> bool:
        return bool(self.executor.kill_switch.engaged())

    def executor_mode(self) -> str:
        return str(self.executor.global_mode)
