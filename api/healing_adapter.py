"""Adapt the healing engine (``forewarn.healing.HealingExecutor``) to the API's :class:`HealingControl`.

Why an adapter in the API package: the executor's verbs speak approval ids and ``ActionDecision``s;
the API speaks action ids (the ids the actions topic carries, which is what an operator sees in
``GET /v1/actions/pending``). The adapter resolves one to the other (the pending record's
``result.approval_id``), turns executor refusals into the API's 404/409 errors, and returns action
events (``forewarn.events.ActionEvent``) so the API can store them at once. Every executor guard still
applies: the adapter never runs an action itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from forewarn.api.control import ActionNotFound, ActionRejected
from forewarn.events import NO_ACTION, ActionEvent

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

    def _stored(self, action_id: str) -> ActionEvent | None:
        found = self.lookup(action_id) if self.lookup else None
        return None if found is None else ActionEvent.model_validate(found)

    def _approval(self, action_id: str) -> tuple[str, ActionEvent | None]:
        pending = {str(a["id"]): a for a in self.executor.pending_approvals()}
        record = self._stored(action_id)
        if action_id in pending:
            return action_id, record
        approval = record.result.get("approval_id") if record is not None else None
        if approval in pending:
            return str(approval), record
        if record is not None:
            raise ActionRejected(f"action {action_id!r} is {record.status}, not waiting for approval")
        raise ActionNotFound(f"no pending action or approval {action_id!r}")

    def _unstored(self, approval_id: str, action_id: str) -> ActionEvent:
        """The pending plan as an action event, for an approval the store has not seen (yet)."""
        from forewarn.healing.triggers import Trigger

        row = next(a for a in self.executor.pending_approvals() if str(a["id"]) == approval_id)
        trigger = Trigger.model_validate(row["payload"]["trigger"])
        return ActionEvent(
            id=action_id,
            service=trigger.service,
            timestamp=datetime.fromtimestamp(self.clock(), UTC),
            incident_id=trigger.group_id,
            trigger_id=trigger.id,
            issue_class=str(row["payload"]["issue_class"]),
            mode="approve",
            status="pending_approval",
            action=NO_ACTION,
            policy=row["payload"].get("policy"),
            result={"approval_id": approval_id},
        )

    @staticmethod
    def _event(record: Any, action_id: str | None = None, actor: str | None = None) -> ActionEvent:
        event: ActionEvent = record.to_event()
        if action_id is not None:
            # The decision updates the row the operator acted on (and is newer, so it wins).
            event = event.model_copy(update={"id": action_id, "decided_by": actor})
        return event

    def approve(self, action_id: str, *, actor: str) -> ActionEvent:
        from forewarn.healing.errors import HealingError

        approval_id, _ = self._approval(action_id)
        try:
            records = self.executor.approve(approval_id, by=actor)
        except HealingError as error:
            raise ActionRejected(str(error)) from None
        if not records:
            raise ActionRejected(f"approval {approval_id!r} produced no action")
        return self._event(records[-1], action_id, actor)

    def deny(self, action_id: str, *, actor: str, reason: str) -> ActionEvent:
        approval_id, record = self._approval(action_id)
        base = record if record is not None else self._unstored(approval_id, action_id)
        if not self.executor.reject(approval_id, by=actor):
            raise ActionRejected(f"approval {approval_id!r} was decided or expired meanwhile")
        now = datetime.fromtimestamp(self.clock(), UTC)
        update = {
            "id": action_id,
            "status": "denied",
            "updated_at": now,
            "detail": reason,
            "decided_by": actor,
        }
        return base.model_copy(update=update)

    def trigger(
        self, service: str, action: str, params: Mapping[str, Any], *, actor: str, reason: str
    ) -> ActionEvent:
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
