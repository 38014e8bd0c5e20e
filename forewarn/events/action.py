"""The actions topic's schema: one healing decision or action step, as the store and the API keep it.

Why it differs from the executor's in-memory ``ActionDecision`` (``forewarn.healing.records``): the
executor counts time on its own clock (epoch seconds, a fake one in tests) and groups steps by
trigger; the topic needs an id to de-duplicate on and an event time. ``ActionDecision.to_event`` is
the one conversion.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from forewarn.events.base import Name, TopicMessage

DecisionStatus = Literal[
    "succeeded",  # ran and (if the policy asks) validated
    "failed",  # the action raised / the service refused
    "rolled_back",  # ran, validation failed, undone
    "not_validated",  # ran, validation failed, nothing to undo (or rollback off / failed)
    "rejected",  # a guard said no
    "dry_run",  # would have run (mode dry-run)
    "shadow",  # would have run (mode shadow); compared later with what a human did
    "pending_approval",  # waiting for a human (mode approve)
    "skipped",  # mode off, or nothing to do
    "suppressed",  # a root cause of this service is being healed
    "duplicate",  # this idempotency key was handled before
    "escalated",  # handed to humans instead of acting (e.g. irreversible action on a forecast)
    "no_policy",  # no policy matches the trigger
    "error",  # a bug or a bad input; the executor stayed up
]
# What an action row can also become after the executor decided: an operator said no (the API).
ActionStatus = DecisionStatus | Literal["denied"]

NO_ACTION = "decision"  # the ``action`` of a decision that ran none (no policy, a guard said no, ...)


class ActionEvent(TopicMessage):
    """One decision or action step of the healing executor (``id``: one per step, re-deliveries update it)."""

    kind: Literal["action"] = "action"
    id: str = Field(min_length=1, max_length=128)
    service: Name
    timestamp: datetime  # when the executor decided
    updated_at: datetime | None = None  # a later decision on the same row (an operator's denial)
    incident_id: str  # the incident the step belongs to (the trigger's id when it has none)
    trigger_id: str
    issue_class: str
    mode: str
    status: ActionStatus
    action: str = NO_ACTION
    policy: str | None = None
    step: int | None = None
    idempotency_key: str | None = None
    detail: str = ""  # why: the executor's reason, or the operator's
    decided_by: str | None = None  # the operator who approved or denied it
    params: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None

    @property
    def last_change(self) -> datetime:
        """Which of two deliveries of the same id is newer (last writer wins on this)."""
        return max(self.timestamp, self.updated_at or self.timestamp)


__all__ = ["NO_ACTION", "ActionEvent", "ActionStatus", "DecisionStatus"]
