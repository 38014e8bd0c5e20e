"""Approvals (mode ``approve``): a plan waits for a human, is approved, rejected, or expires.

Why its own part: the requests live in the executor's SQLite state (``StateStore``), so they survive a
restart of the responder, and deciding one is atomic (only a pending request can be decided, once).
An approval id is ``<incident or trigger id>:<policy>``: a re-delivered trigger finds its request
already made. Running an approved plan is the executor's job (every guard still applies then).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forewarn.healing.audit import AuditRecord
from forewarn.healing.config import HealingConfig, Policy
from forewarn.healing.decisions import Recorder
from forewarn.healing.errors import GuardRejected
from forewarn.healing.records import ActionDecision
from forewarn.healing.state import StateStore
from forewarn.healing.triggers import Trigger

__all__ = ["Approval", "Approvals"]

# What an approved or expired request brings back: the trigger, its policy's name, its issue class.
Approval = tuple[Trigger, str, str]


class Approvals:
    """Request, approve, reject and expire approvals; each decision is audited."""

    def __init__(self, config: HealingConfig, store: StateStore, recorder: Recorder) -> None:
        self.config = config
        self.store = store
        self.recorder = recorder

    def pending(self) -> list[dict[str, Any]]:
        return self.store.approvals("pending")

    def get(self, approval_id: str) -> dict[str, Any] | None:
        """One approval request (any status), or None."""
        return next((a for a in self.store.approvals() if a["id"] == approval_id), None)

    def request(
        self, trigger: Trigger, policy: Policy, issue_class: str, plan: list[str]
    ) -> tuple[ActionDecision, bool]:
        """Ask for approval of ``plan``; (the record, whether the request is new)."""
        guards = self.config.guards.merged(policy.guards)
        now = self.recorder.clock.now()
        approval_id = f"{trigger.group_id}:{policy.name}"
        timeout = guards.approval_timeout_seconds or 300.0
        created = self.store.add_approval(
            approval_id,
            now,
            now + timeout,
            {
                "trigger": trigger.model_dump(mode="json"),
                "policy": policy.name,
                "issue_class": issue_class,
                "plan": plan,
            },
        )
        record = self.recorder.decide(
            "approval",
            trigger,
            issue_class,
            "pending_approval" if created else "duplicate",
            policy=policy.name,
            mode="approve",
            detail=(
                f"waiting for approval {approval_id} of {' -> '.join(plan)} (expires in {timeout:.0f}s)"
                if created
                else f"approval {approval_id} was already requested"
            ),
            result={"approval_id": approval_id},
        )
        return record, created

    def approve(self, approval_id: str, by: str) -> Approval:
        """Mark a pending request approved (GuardRejected if it is not pending) and audit it."""
        if not self.store.decide_approval(approval_id, "approved", by):
            raise GuardRejected(
                "approval", f"no pending approval {approval_id!r} (unknown, decided or expired)"
            )
        row = next(a for a in self.store.approvals() if a["id"] == approval_id)
        trigger = Trigger.model_validate(row["payload"]["trigger"])
        self.recorder.audit.append(
            AuditRecord(
                event="approval",
                actor=by,
                service=trigger.service,
                incident_id=trigger.group_id,
                trigger_id=trigger.id,
                why=f"approved {approval_id}",
                outcome="approved",
            )
        )
        return trigger, str(row["payload"]["policy"]), str(row["payload"]["issue_class"])

    def reject(self, approval_id: str, by: str) -> bool:
        ok = self.store.decide_approval(approval_id, "rejected", by)
        if ok:
            self.recorder.audit.append(
                AuditRecord(event="approval", actor=by, why=f"rejected {approval_id}", outcome="rejected")
            )
        return ok

    def expire(self, now: float, then: Callable[[Approval, ActionDecision], None]) -> None:
        """Expire the requests whose time ran out (nothing runs); ``then`` escalates each at once."""
        for row in self.store.approvals("pending"):
            if row["expires_at"] <= now and self.store.decide_approval(row["id"], "expired", "timeout"):
                trigger = Trigger.model_validate(row["payload"]["trigger"])
                issue_class = str(row["payload"]["issue_class"])
                record = self.recorder.decide(
                    "approval",
                    trigger,
                    issue_class,
                    "escalated",
                    policy=row["payload"]["policy"],
                    mode="approve",
                    detail=f"approval {row['id']} timed out; nothing was run",
                )
                then((trigger, str(row["payload"]["policy"]), issue_class), record)
