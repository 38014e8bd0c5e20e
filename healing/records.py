"""What ``HealingExecutor.handle`` returns: one decision record per decision or action step.

Why a class apart from the actions topic's ``forewarn.events.ActionEvent``: the executor keeps time on
its own clock (``at``, epoch seconds; a fake clock in tests) and knows steps by trigger and group; the
topic wants an id to de-duplicate on and an event time. :meth:`ActionDecision.to_event` is the one
conversion, used by the responder and its operator-request applier alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from forewarn.events import NO_ACTION, ActionEvent, DecisionStatus

Status = DecisionStatus


class ActionDecision(BaseModel):
    trigger_id: str
    group_id: str
    service: str
    issue_class: str
    mode: str
    status: Status
    policy: str | None = None
    step: int | None = None
    action: str | None = None
    idempotency_key: str | None = None
    detail: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    at: float = 0.0

    @property
    def acted(self) -> bool:
        """True when this record changed the target (an action really ran)."""
        return self.status in ("succeeded", "failed", "rolled_back", "not_validated")

    def to_event(self) -> ActionEvent:
        """This decision as the actions topic carries it: one id per step, the decision time as event time."""
        ident = self.idempotency_key or f"{self.trigger_id}:{self.status}"
        return ActionEvent(
            id=ident[:128],
            service=self.service,
            timestamp=datetime.fromtimestamp(self.at, tz=UTC),
            incident_id=self.group_id,
            trigger_id=self.trigger_id,
            issue_class=self.issue_class,
            mode=self.mode,
            status=self.status,
            action=self.action or NO_ACTION,
            policy=self.policy,
            step=self.step,
            idempotency_key=self.idempotency_key,
            detail=self.detail,
            params=self.params,
            result=self.result,
            validation=self.validation,
            rollback=self.rollback,
        )


def topic_events(records: list[ActionDecision]) -> list[ActionEvent]:
    """The decisions worth publishing, as action events.

    A "duplicate" says only that the step was handled before; publishing it would let the store's
    last-writer-wins row for that step hide the real outcome.
    """
    return [record.to_event() for record in records if record.status != "duplicate"]


__all__ = ["ActionDecision", "Status", "topic_events"]
