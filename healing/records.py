"""What ``HealingExecutor.handle`` returns: one record per decision or action step, and its topic shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal[
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


class ActionRecord(BaseModel):
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


def action_event(record: ActionRecord) -> dict[str, Any]:
    """One action record as the actions topic carries it (``id``, ``timestamp`` for the store)."""
    payload = record.model_dump(mode="json")
    ident = record.idempotency_key or f"{record.trigger_id}:{record.status}"
    payload.update(
        {
            "schema_version": 1,
            "kind": "action",
            "id": ident[:128],
            "timestamp": datetime.fromtimestamp(record.at, tz=UTC).isoformat(),
            "incident_id": record.group_id,
            "action": record.action or "decision",
        }
    )
    return payload


def topic_events(records: list[ActionRecord]) -> list[dict[str, Any]]:
    """The records worth publishing, as action events.

    A "duplicate" says only that the step was handled before; publishing it would let the store's
    last-writer-wins row for that step hide the real outcome.
    """
    return [action_event(r) for r in records if r.status != "duplicate"]


__all__ = ["ActionRecord", "Status", "action_event", "topic_events"]
