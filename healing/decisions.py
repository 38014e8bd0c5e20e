"""Decision records and their audit lines: how every part of the executor says what it decided.

Why one small class shared by the planner, the approvals and the acting code: each decision is an
``ActionDecision`` *and* an audit line carrying the trigger, the params, the policy and the outcome;
building both in one place keeps the audit log uniform whichever part of the executor decided.
"""

from __future__ import annotations

from typing import Any

from forewarn.healing.audit import AuditLog, AuditRecord
from forewarn.healing.clock import Clock
from forewarn.healing.records import ActionDecision, Status
from forewarn.healing.triggers import Trigger

__all__ = ["Recorder"]


class Recorder:
    """Builds ``ActionDecision``s stamped with the executor's clock and mode, and audits them."""

    def __init__(self, audit: AuditLog, clock: Clock, actor: str, global_mode: str) -> None:
        self.audit = audit
        self.clock = clock
        self.actor = actor
        self.global_mode = global_mode

    def record(self, trigger: Trigger, issue_class: str, status: Status, **fields: Any) -> ActionDecision:
        return ActionDecision(
            trigger_id=trigger.id,
            group_id=trigger.group_id,
            service=trigger.service,
            issue_class=issue_class,
            mode=fields.pop("mode", self.global_mode),
            status=status,
            at=self.clock.now(),
            **fields,
        )

    def decide(
        self, event: str, trigger: Trigger, issue_class: str, status: Status, **fields: Any
    ) -> ActionDecision:
        """A record of a decision, audited with its detail as the reason: most decisions are one of these."""
        record = self.record(trigger, issue_class, status, **fields)
        self.log(event, trigger, record, why=record.detail)
        return record

    def log(
        self, event: str, trigger: Trigger, record: ActionDecision, *, why: str, outcome: str | None = None
    ) -> None:
        """The audit line of one record."""
        self.audit.append(
            AuditRecord(
                event=event,
                actor=self.actor,
                service=trigger.service,
                action=record.action,
                incident_id=trigger.group_id,
                trigger_id=trigger.id,
                issue_class=record.issue_class,
                idempotency_key=record.idempotency_key,
                mode=record.mode,
                why=why,
                inputs={
                    "trigger": trigger.model_dump(mode="json"),
                    "params": record.params,
                    "policy": record.policy,
                },
                outcome=outcome or record.status,
                result=record.result,
                validation=record.validation,
                rollback=record.rollback,
            )
        )
