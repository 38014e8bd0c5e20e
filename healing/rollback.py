"""Undo what a failed heal changed, newest step first, and say what happened for the human.

Why apart from the acting loop: rollback has its own rules (policy ``rollback: false``, actions that
changed no configuration have nothing to undo, an undo can itself fail) and its own audit lines; a
failed undo is the most urgent thing an escalation can say, so :func:`rollback_note` puts it first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.config import Policy
from forewarn.healing.errors import HealingError
from forewarn.healing.records import ActionDecision

__all__ = ["Done", "rollback", "rollback_note"]


@dataclass
class Done:
    """One step that ran: what the undo needs, and the record it updates."""

    action: Action
    params: BaseModel
    outcome: ActionOutcome
    ctx: ActionContext
    record: ActionDecision


# Audit one rollback: (the record, why, outcome).
AuditRollback = Callable[[ActionDecision, str, str], None]


def rollback(policy: Policy, done: list[Done], audit: AuditRollback) -> None:
    """Undo ``done`` in reverse order where possible; each record's ``rollback`` says what happened."""
    if not policy.rollback:
        for item in done:
            item.record.rollback = {"attempted": False, "detail": "rollback is off for this policy"}
        return
    for item in reversed(done):
        if not item.action.can_undo or not item.outcome.undo_state:
            item.record.rollback = {
                "attempted": False,
                "detail": f"{item.action.name} has nothing to undo (no configuration changed)",
            }
            continue
        try:
            undone = item.action.undo(item.params, item.ctx, item.outcome)
            item.record.rollback = {"attempted": True, "ok": True, "detail": undone.detail}
            item.record.status = "rolled_back"
        except HealingError as exc:
            item.record.rollback = {"attempted": True, "ok": False, "detail": str(exc)}
        outcome = "ok" if item.record.rollback.get("ok") else "failed"
        audit(item.record, f"undo {item.action.name} after a failed heal", outcome)


def rollback_note(done: list[Done]) -> str:
    """What the rollback did, for the human: a failed undo is the most urgent thing to say."""
    failed = [d.action.name for d in done if d.record.rollback and d.record.rollback.get("ok") is False]
    undone = [d.action.name for d in done if d.record.rollback and d.record.rollback.get("ok") is True]
    if failed:
        return f"; ROLLBACK FAILED for {', '.join(failed)}: the service may be half-changed"
    if undone:
        return f"; rolled back {', '.join(undone)}"
    return ""
