"""Planning: from a trigger to a policy, a mode and a plan of actions, or a decision not to act.

Why apart from acting: everything here only *reads* (the config, the recorded success rates, which
root causes are being healed) and writes decision records; nothing touches a service. The planner
classifies the issue, picks the policy (priority, then the success rate recorded for that issue
class), refuses stale triggers, holds back dependents of a root cause being healed, refuses to act
early with an irreversible action, applies mode ``off``, and simulates (dry-run, shadow) what it would
do. The executor acts on the :class:`Plan` it returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forewarn.healing.actions.registry import ActionRegistry
from forewarn.healing.audit import AuditLog, AuditRecord
from forewarn.healing.classify import classify
from forewarn.healing.config import HealingConfig, Policy, Step, strictest
from forewarn.healing.decisions import Recorder
from forewarn.healing.errors import GuardRejected, HealingError
from forewarn.healing.guards import Guards
from forewarn.healing.records import ActionDecision, Status
from forewarn.healing.triggers import Trigger

__all__ = ["Plan", "Planner"]


@dataclass
class Plan:
    """What to do with a trigger. ``records`` set: decided already (``escalate``: tell humans why)."""

    issue_class: str
    policy: Policy | None = None
    mode: str = ""
    actions: list[str] = field(default_factory=list)
    records: list[ActionDecision] = field(default_factory=list)
    escalate: bool = False


class Planner:
    """Policy matching, action choice (success rates), the pre-action checks, simulation and shadow."""

    def __init__(
        self, config: HealingConfig, registry: ActionRegistry, guards: Guards, recorder: Recorder
    ) -> None:
        self.config = config
        self.registry = registry
        self.guards = guards
        self.recorder = recorder
        self._lock = threading.Lock()
        self._shadow: dict[str, list[str]] = {}
        self._stats: dict[tuple[str, str], list[int]] = {}
        self._load_stats(recorder.audit)

    def plan(self, trigger: Trigger, healing_roots: Callable[[str, float], list[str]]) -> Plan:
        """The policy, mode and actions for ``trigger``; ``healing_roots`` names root causes in a heal."""
        rec = self.recorder
        issue_class = classify(trigger, self.config.signatures)
        policies = self.matching(trigger, issue_class)
        if not policies:
            detail = "no policy matches this trigger"
            return Plan(
                issue_class,
                records=[rec.decide("decision", trigger, issue_class, "no_policy", detail=detail)],
            )
        policy = policies[0]
        mode = strictest(rec.global_mode, policy.mode)
        now = rec.clock.now()
        decided = dict(policy=policy.name, mode=mode)
        max_age = self.config.guards.merged(policy.guards).max_trigger_age_seconds
        age = now - trigger.timestamp.timestamp()
        if max_age is not None and age > max_age:
            why = f"stale trigger: {age:.0f}s old (max {max_age:.0f}s); not acting on old news"
            record = rec.decide("skipped", trigger, issue_class, "skipped", **decided, detail=why)
            return Plan(issue_class, policy, mode, records=[record])
        roots = healing_roots(trigger.service, now)
        if roots:
            why = f"root cause {', '.join(roots)} is being healed; {trigger.service} depends on it"
            record = rec.decide("skipped", trigger, issue_class, "suppressed", **decided, detail=why)
            return Plan(issue_class, policy, mode, records=[record])
        plan = [self.choose(step, issue_class) for step in policy.actions]
        early_unsafe = [n for n in plan if not self.registry.get(n).reversible] if trigger.predictive else []
        if early_unsafe:
            why = (
                f"breach forecast in {trigger.lead_time_seconds:.0f}s but {', '.join(early_unsafe)} "
                "cannot be undone: not acting on a forecast alone, escalating"
            )
            record = rec.decide("decision", trigger, issue_class, "escalated", **decided, detail=why)
            return Plan(issue_class, policy, mode, records=[record], escalate=True)
        decision = rec.record(trigger, issue_class, "skipped", **decided, detail=f"plan: {' -> '.join(plan)}")
        if mode == "off":
            decision.detail = f"mode off; would have run {' -> '.join(plan)}"
            rec.log("skipped", trigger, decision, why=decision.detail)
            return Plan(issue_class, policy, mode, records=[decision])
        if not policy.actions:
            decision.status = "escalated"
            decision.detail = f"policy {policy.name} has no safe action for {issue_class}; escalating"
            rec.log("decision", trigger, decision, why=decision.detail)
            return Plan(issue_class, policy, mode, records=[decision], escalate=True)
        if mode in ("dry-run", "shadow"):
            return Plan(
                issue_class, policy, mode, plan, self._simulate(trigger, policy, issue_class, mode, plan)
            )
        return Plan(issue_class, policy, mode, plan)

    def matching(self, trigger: Trigger, issue_class: str) -> list[Policy]:
        found = [p for p in self.config.policies if _matches(p, trigger, issue_class)]

        def rank(policy: Policy) -> tuple[int, float]:
            first = policy.actions[0] if policy.actions else None
            best = (
                max((self.success_rate(issue_class, n) for n in first.candidates()), default=0.5)
                if first
                else 0.5
            )
            return (policy.priority, -best)

        return sorted(found, key=rank)

    def choose(self, step: Step, issue_class: str) -> str:
        """The step's action; for ``one_of``, the best recorded success rate (ties: listed order)."""
        candidates = step.candidates()
        return max(candidates, key=lambda n: (self.success_rate(issue_class, n), -candidates.index(n)))

    def policy(self, name: str) -> Policy:
        for policy in self.config.policies:
            if policy.name == name:
                return policy
        raise HealingError(f"policy {name!r} is no longer configured")

    # -- success rates and verdicts ------------------------------------------------------------

    def success_rate(self, issue_class: str, action: str) -> float:
        """Laplace-smoothed share of heals of ``issue_class`` by ``action`` that validated."""
        ok, total = self._stats.get((issue_class, action), [0, 0])
        return (ok + 1) / (total + 2)

    def count(self, issue_class: str, action: str, ok: bool) -> None:
        with self._lock:
            stat = self._stats.setdefault((issue_class, action), [0, 0])
            stat[0] += int(ok)
            stat[1] += 1

    def verdict(self, trigger: Trigger, issue_class: str, action: str, ok: bool, guards: Any) -> None:
        """Whether a heal worked: feeds the success rates here and the guards' circuit breakers."""
        state = self.guards.record_heal(action, trigger.service, ok, guards)
        self.count(issue_class, action, ok)
        self.recorder.audit.append(
            AuditRecord(
                event="heal",
                actor=self.recorder.actor,
                service=trigger.service,
                action=action,
                incident_id=trigger.group_id,
                trigger_id=trigger.id,
                issue_class=issue_class,
                outcome="healed" if ok else "not_healed",
                result={"breaker": state},
                why="verdict used for success rates and circuit breakers",
            )
        )

    def _load_stats(self, audit: AuditLog) -> None:
        for row in audit.records():
            if row.event == "heal" and row.issue_class and row.action:
                self.count(row.issue_class, row.action, row.outcome == "healed")

    # -- simulation and shadow mode ------------------------------------------------------------

    def _simulate(
        self, trigger: Trigger, policy: Policy, issue_class: str, mode: str, plan: list[str]
    ) -> list[ActionDecision]:
        status: Status = "dry_run" if mode == "dry-run" else "shadow"
        guards = self.config.guards.merged(policy.guards)
        out = []
        for step, (name, spec) in enumerate(zip(plan, policy.actions, strict=True)):
            action = self.registry.get(name)
            try:
                self.guards.check(action, trigger.service, guards)
                verdict = "guards would allow it"
            except GuardRejected as exc:
                verdict = f"guards would refuse it ({exc})"
            record = self.recorder.decide(
                "decision",
                trigger,
                issue_class,
                status,
                policy=policy.name,
                mode=mode,
                step=step,
                action=name,
                params=spec.params,
                detail=f"would run {name}; {verdict}",
            )
            out.append(record)
        if mode == "shadow":
            self._shadow[trigger.group_id] = plan
        return out

    def record_human_action(self, group_id: str, action: str, actor: str = "human") -> dict[str, Any]:
        """Shadow mode: compare what a human did with what the executor would have done."""
        proposed = self._shadow.get(group_id, [])
        agree = action in proposed
        self.recorder.audit.append(
            AuditRecord(
                event="shadow",
                actor=actor,
                incident_id=group_id,
                action=action,
                why="human action compared with the shadow plan",
                outcome="agree" if agree else "disagree",
                inputs={"proposed": proposed},
            )
        )
        return {"group_id": group_id, "human": action, "proposed": proposed, "agree": agree}


def _matches(policy: Policy, trigger: Trigger, issue_class: str) -> bool:
    match = policy.trigger
    if match.sources and trigger.source not in match.sources:
        return False
    if match.kinds and trigger.kind not in match.kinds:
        return False
    if match.services and "*" not in match.services and trigger.service not in match.services:
        return False
    if match.issue_class is not None and match.issue_class != issue_class:
        return False
    if not trigger.severity.at_least(match.min_severity):
        return False
    if trigger.confidence < match.min_confidence:
        return False
    if match.min_breach_probability is not None and (
        trigger.breach_probability is None or trigger.breach_probability < match.min_breach_probability
    ):
        return False
    lead = trigger.lead_time_seconds
    if match.max_lead_time_seconds is not None and (lead is None or lead > match.max_lead_time_seconds):
        return False
    return not (
        match.min_lead_time_seconds is not None and lead is not None and lead < match.min_lead_time_seconds
    )
