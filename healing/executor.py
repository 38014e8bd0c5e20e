"""The healing executor: from a trigger to safe, validated, audited actions (or a human, if not safe).

Entry point: ``HealingExecutor.handle(trigger) -> list[ActionDecision]``. It is synchronous, never
raises (a bug becomes an ``error`` record and an audit line), and is idempotent: every action step
has the key ``<incident or trigger id>:<action>:<step>``, claimed atomically in SQLite before it
runs, so an at-least-once pipeline that delivers the same detection twice gets one action.

For each trigger: classify the issue; pick the policy (priority, then the success rate recorded
for that issue class); hold back if a root cause of the service is being healed; refuse to act
early with an irreversible action; apply the mode (off, dry-run, shadow, approve, auto); then, per
step, check every guard, run the action, and finally validate health, roll back if it did not
work, and escalate to humans when anything fails or is refused. Every decision is audited.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.actions.registry import ActionRegistry, default_registry
from forewarn.healing.audit import AuditLog, AuditRecord
from forewarn.healing.classify import classify
from forewarn.healing.clock import Clock, SystemClock
from forewarn.healing.config import (
    HealingConfig,
    Policy,
    Step,
    strictest,
)
from forewarn.healing.dependencies import DependencyMap
from forewarn.healing.errors import ActionFailed, GuardRejected, HealingError
from forewarn.healing.guards import Guards
from forewarn.healing.kill_switch import KillSwitch
from forewarn.healing.notify.channels import Channel, build_channels
from forewarn.healing.notify.message import Notification
from forewarn.healing.notify.router import Delivery, NotificationRouter
from forewarn.healing.paths import HealingPaths
from forewarn.healing.records import ActionDecision, Status
from forewarn.healing.state import StateStore
from forewarn.healing.triggers import Trigger
from forewarn.healing.validation import validate_health

# After a root cause's heal ends, its dependents stay suppressed this long (they need time to recover).
SETTLE_SECONDS = 60.0


@dataclass
class _Done:
    action: Action
    params: BaseModel
    outcome: ActionOutcome
    ctx: ActionContext
    record: ActionDecision


@dataclass
class _Ladder:
    started: float
    policy: Policy
    note: Notification
    sent_levels: set[int]
    resolved: bool = False


class HealingExecutor:
    """Synchronous, thread-safe, idempotent. Build with ``from_settings`` or inject every part."""

    def __init__(
        self,
        config: HealingConfig,
        paths: HealingPaths,
        *,
        clock: Clock | None = None,
        registry: ActionRegistry | None = None,
        admin_client_for: Callable[[str], httpx.Client | None] | None = None,
        http: httpx.Client | None = None,
        channels: dict[str, Channel] | None = None,
        global_mode: str = "auto",
        default_base_url: str = "http://127.0.0.1:8080",
        actor: str = "forewarn-healing",
    ) -> None:
        self.config = config
        self.paths = paths
        self.clock: Clock = clock or SystemClock()
        self.registry = registry or default_registry()
        self.global_mode = strictest(global_mode, config.mode)
        self.default_base_url = default_base_url.rstrip("/")
        self.actor = actor
        self.audit = AuditLog(paths.audit_log, clock=self.clock)
        self.store = StateStore(paths.state_db)
        self.kill_switch = KillSwitch(paths.kill_switch_file, clock=self.clock)
        self.deps = DependencyMap(config.services)
        self.guards = Guards(self.store, self.kill_switch, self.clock, self.deps)
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=10.0)
        self.admin_client_for = admin_client_for or (lambda service: None)
        self.notifier = NotificationRouter(
            config.notifications,
            channels if channels is not None else build_channels(config.notifications.channels),
            self.clock,
        )
        self._lock = threading.RLock()
        self._healing_until: dict[str, float] = {}
        self._ladders: dict[str, _Ladder] = {}
        self._shadow: dict[str, list[str]] = {}
        self._stats: dict[tuple[str, str], list[int]] = {}
        self._load_stats()

    @classmethod
    def from_settings(cls, settings: Any = None, **overrides: Any) -> HealingExecutor:
        """Build from ``forewarn.settings`` (admin key signing, paths, config file, global mode)."""
        from forewarn.admin_signing import AdminAuth
        from forewarn.healing.config import load_config
        from forewarn.settings import load_settings

        settings = settings or load_settings()
        healing = settings.healing
        config = overrides.pop("config", None) or load_config(healing.config)
        paths = overrides.pop("paths", None) or HealingPaths.from_settings(healing)
        clients: dict[str, httpx.Client] = {}
        auth = AdminAuth(healing.admin_key_id, healing.admin_secret) if healing.admin_secret else None

        def admin_client_for(service: str) -> httpx.Client | None:
            if auth is None:
                return None
            conf = config.services.get(service)
            base = (conf.admin_url if conf and conf.admin_url else healing.admin_base_url).rstrip("/")
            if base not in clients:
                clients[base] = httpx.Client(base_url=base, auth=auth, timeout=10.0)
            return clients[base]

        overrides.setdefault("admin_client_for", admin_client_for)
        overrides.setdefault("default_base_url", healing.admin_base_url)
        overrides.setdefault("global_mode", healing.mode)
        return cls(config, paths, **overrides)

    def close(self) -> None:
        if self._own_http:
            self.http.close()
        self.store.close()

    # -- public entry points -----------------------------------------------------------------

    def handle(self, trigger: Trigger) -> list[ActionDecision]:
        """Decide and (if allowed) act on one trigger. Never raises; see the module docstring."""
        try:
            return self._handle(trigger)
        except Exception as exc:  # the pipeline must survive our bugs; the audit keeps the evidence
            record = self._record(trigger, "unknown", "error", detail=f"{type(exc).__name__}: {exc}")
            self._audit_safe("decision", trigger, record, why="internal error while handling the trigger")
            return [record]

    def handle_many(self, triggers: Iterable[Trigger]) -> list[ActionDecision]:
        """Several triggers at once: root causes first, then by business impact (cost per minute)."""
        batch = list(triggers)
        order = {s: i for i, s in enumerate(self.deps.order(t.service for t in batch))}
        batch.sort(key=lambda t: (order[t.service], -t.severity.rank))
        out: list[ActionDecision] = []
        for trigger in batch:
            out.extend(self.handle(trigger))
        return out

    def tick(self) -> list[Delivery]:
        """Advance time-driven work: escalation ladders, notification digests, approval expiry."""
        deliveries: list[Delivery] = []
        now = self.clock.now()
        with self._lock:
            ladders = list(self._ladders.items())
        for group, ladder in ladders:
            if ladder.resolved:
                continue
            for level, step in enumerate(ladder.policy.escalation):
                if level in ladder.sent_levels or now - ladder.started < step.after_seconds:
                    continue
                ladder.sent_levels.add(level)
                note = _replace_level(ladder.note, level, now)
                sent = self.notifier.notify(note, step.notify)
                deliveries.extend(sent)
                self._audit_escalation(group, note, sent)
        deliveries.extend(self.notifier.flush())
        self._expire_approvals(now)
        return deliveries

    def resolve(self, group_id: str) -> None:
        """Stop the escalation ladder of a group (an incident id, or ``service/issue_class``)."""
        with self._lock:
            ladder = self._ladders.get(group_id)
            if ladder is not None:
                ladder.resolved = True

    def success_rate(self, issue_class: str, action: str) -> float:
        """Laplace-smoothed share of heals of ``issue_class`` by ``action`` that validated."""
        ok, total = self._stats.get((issue_class, action), [0, 0])
        return (ok + 1) / (total + 2)

    # -- approvals and shadow mode -----------------------------------------------------------

    def pending_approvals(self) -> list[dict[str, Any]]:
        return self.store.approvals("pending")

    def approve(self, approval_id: str, by: str = "operator") -> list[ActionDecision]:
        """Approve a pending plan and run it now (every guard still applies)."""
        if not self.store.decide_approval(approval_id, "approved", by):
            raise GuardRejected(
                "approval", f"no pending approval {approval_id!r} (unknown, decided or expired)"
            )
        row = next(a for a in self.store.approvals() if a["id"] == approval_id)
        trigger = Trigger.model_validate(row["payload"]["trigger"])
        policy = self._policy(row["payload"]["policy"])
        self.audit.append(
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
        issue_class = str(row["payload"]["issue_class"])
        return self._execute(trigger, policy, issue_class, "auto")

    def reject(self, approval_id: str, by: str = "operator") -> bool:
        ok = self.store.decide_approval(approval_id, "rejected", by)
        if ok:
            self.audit.append(
                AuditRecord(event="approval", actor=by, why=f"rejected {approval_id}", outcome="rejected")
            )
        return ok

    def record_human_action(self, group_id: str, action: str, actor: str = "human") -> dict[str, Any]:
        """Shadow mode: compare what a human did with what the executor would have done."""
        proposed = self._shadow.get(group_id, [])
        agree = action in proposed
        self.audit.append(
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

    # -- the decision ------------------------------------------------------------------------

    def _handle(self, trigger: Trigger) -> list[ActionDecision]:
        issue_class = classify(trigger, self.config.signatures)
        policies = self._matching(trigger, issue_class)
        if not policies:
            record = self._decide(
                "decision", trigger, issue_class, "no_policy", detail="no policy matches this trigger"
            )
            return [record]
        policy = policies[0]
        mode = strictest(self.global_mode, policy.mode)
        now = self.clock.now()
        max_age = self.config.guards.merged(policy.guards).max_trigger_age_seconds
        age = now - trigger.timestamp.timestamp()
        if max_age is not None and age > max_age:
            record = self._decide(
                "skipped",
                trigger,
                issue_class,
                "skipped",
                policy=policy.name,
                mode=mode,
                detail=f"stale trigger: {age:.0f}s old (max {max_age:.0f}s); not acting on old news",
            )
            return [record]
        roots = sorted(a for a in self.deps.ancestors(trigger.service) if self._healing_until.get(a, 0) > now)
        if roots:
            record = self._decide(
                "skipped",
                trigger,
                issue_class,
                "suppressed",
                policy=policy.name,
                mode=mode,
                detail=f"root cause {', '.join(roots)} is being healed; {trigger.service} depends on it",
            )
            return [record]
        plan = [self._choose(step, issue_class) for step in policy.actions]
        if trigger.predictive:
            early_unsafe = [n for n in plan if not self.registry.get(n).reversible]
            if early_unsafe:
                record = self._decide(
                    "decision",
                    trigger,
                    issue_class,
                    "escalated",
                    policy=policy.name,
                    mode=mode,
                    detail=(
                        f"breach forecast in {trigger.lead_time_seconds:.0f}s but {', '.join(early_unsafe)} "
                        "cannot be undone: not acting on a forecast alone, escalating"
                    ),
                )
                self._escalate(trigger, policy, issue_class, record.detail, [record])
                return [record]
        decision = self._record(
            trigger,
            issue_class,
            "skipped",
            policy=policy.name,
            mode=mode,
            detail=f"plan: {' -> '.join(plan)}",
        )
        if mode == "off":
            decision.detail = f"mode off; would have run {' -> '.join(plan)}"
            self._audit_safe("skipped", trigger, decision, why=decision.detail)
            return [decision]
        if not policy.actions:
            decision.status = "escalated"
            decision.detail = f"policy {policy.name} has no safe action for {issue_class}; escalating"
            self._audit_safe("decision", trigger, decision, why=decision.detail)
            self._escalate(trigger, policy, issue_class, decision.detail, [decision])
            return [decision]
        if mode in ("dry-run", "shadow"):
            return self._simulate(trigger, policy, issue_class, mode, plan)
        if mode == "approve":
            return [self._request_approval(trigger, policy, issue_class, plan)]
        return self._execute(trigger, policy, issue_class, mode)

    def _matching(self, trigger: Trigger, issue_class: str) -> list[Policy]:
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

    def _choose(self, step: Step, issue_class: str) -> str:
        """The step's action; for ``one_of``, the best recorded success rate (ties: listed order)."""
        candidates = step.candidates()
        return max(candidates, key=lambda n: (self.success_rate(issue_class, n), -candidates.index(n)))

    def _policy(self, name: str) -> Policy:
        for policy in self.config.policies:
            if policy.name == name:
                return policy
        raise HealingError(f"policy {name!r} is no longer configured")

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
            record = self._decide(
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

    def _request_approval(
        self, trigger: Trigger, policy: Policy, issue_class: str, plan: list[str]
    ) -> ActionDecision:
        guards = self.config.guards.merged(policy.guards)
        now = self.clock.now()
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
        record = self._decide(
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
        if created:
            self._escalate(trigger, policy, issue_class, f"approval needed: {approval_id}", [record])
        return record

    def _expire_approvals(self, now: float) -> None:
        for row in self.store.approvals("pending"):
            if row["expires_at"] <= now and self.store.decide_approval(row["id"], "expired", "timeout"):
                trigger = Trigger.model_validate(row["payload"]["trigger"])
                record = self._decide(
                    "approval",
                    trigger,
                    str(row["payload"]["issue_class"]),
                    "escalated",
                    policy=row["payload"]["policy"],
                    mode="approve",
                    detail=f"approval {row['id']} timed out; nothing was run",
                )
                try:
                    policy = self._policy(row["payload"]["policy"])
                except HealingError:
                    continue
                self._escalate(trigger, policy, record.issue_class, record.detail, [record])

    # -- acting ------------------------------------------------------------------------------

    def _execute(self, trigger: Trigger, policy: Policy, issue_class: str, mode: str) -> list[ActionDecision]:
        guards = self.config.guards.merged(policy.guards)
        service = trigger.service
        records: list[ActionDecision] = []
        done: list[_Done] = []
        for step_index, step in enumerate(policy.actions):
            name = self._choose(step, issue_class)
            action = self.registry.get(name)
            params = action.parse(step.params)
            key = f"{trigger.group_id}:{name}:{step_index}"
            base = dict(
                policy=policy.name,
                mode=mode,
                step=step_index,
                action=name,
                idempotency_key=key,
                params=params.model_dump(mode="json"),
            )
            if not self.store.claim(key, self.clock.now()):
                previous = self.store.claimed(key)
                record = self._decide(
                    "skipped",
                    trigger,
                    issue_class,
                    "duplicate",
                    **base,
                    detail=f"step already handled (status {previous[0] if previous else '?'}); not run again",
                )
                records.append(record)
                return records
            try:
                self.guards.check(action, service, guards)
                with self.guards.slot(service, guards):
                    self._mark_healing(service, policy)
                    run_id = self.store.record_run(self.clock.now(), service, name, action.restarts)
                    ctx = ActionContext(
                        service=service,
                        clock=self.clock,
                        idempotency_key=key,
                        admin=self.admin_client_for(service),
                        reason=f"{issue_class} on {service}: {trigger.reason}"[:300],
                    )
                    try:
                        outcome = action.run(params, ctx)
                    finally:
                        self._mark_healing(service, policy)
                    self.store.set_run_result(run_id, True)
            except GuardRejected as exc:
                record = self._record(trigger, issue_class, "rejected", **base, detail=str(exc))
                self.store.finish(key, "rejected", {"guard": exc.guard, "detail": str(exc)})
                self._audit_safe("skipped", trigger, record, why=f"guard {exc.guard} refused: {exc}")
                records.append(record)
                if exc.guard != "kill-switch":
                    self._escalate(
                        trigger, policy, issue_class, f"{name} refused by guard {exc.guard}", records
                    )
                break
            except ActionFailed as exc:
                record = self._record(trigger, issue_class, "failed", **base, detail=str(exc))
                self.store.finish(key, "failed", {"detail": str(exc)})
                self._audit_safe("attempt", trigger, record, why=f"step {step_index} of policy {policy.name}")
                self._verdict(trigger, issue_class, name, False, guards)
                records.append(record)
                self._rollback(trigger, policy, done)
                why = f"{name} failed: {exc}" + _rollback_note(done)
                self._escalate(trigger, policy, issue_class, why, records)
                return records
            record = self._record(
                trigger, issue_class, "succeeded", **base, detail=outcome.detail, result=outcome.as_dict()
            )
            self.store.finish(key, "ok", outcome.as_dict())
            self._audit_safe(
                "attempt", trigger, record, why=f"step {step_index} of policy {policy.name}", outcome="ran"
            )
            done.append(_Done(action, params, outcome, ctx, record))
            records.append(record)
        if not done:
            return records
        if policy.validation is None:
            for item in done:
                self._verdict(trigger, issue_class, item.action.name, True, guards)
            self.resolve(trigger.incident_id or f"{service}/{issue_class}")
            return records
        url = self._health_url(service, policy.validation.endpoint)
        result = validate_health(self.http, url, policy.validation, self.clock)
        for item in done:
            item.record.validation = result.as_dict()
        self._audit_safe(
            "validation",
            trigger,
            done[-1].record,
            why=result.detail,
            outcome="ok" if result.ok else "failed",
        )
        self._mark_healing(service, policy)
        if result.ok:
            for item in done:
                self._verdict(trigger, issue_class, item.action.name, True, guards)
            self.resolve(trigger.incident_id or f"{service}/{issue_class}")
            return records
        for item in done:
            item.record.status = "not_validated"
            self._verdict(trigger, issue_class, item.action.name, False, guards)
        self._rollback(trigger, policy, done)
        why = f"validation failed: {result.detail}" + _rollback_note(done)
        self._escalate(trigger, policy, issue_class, why, records)
        return records

    def _rollback(self, trigger: Trigger, policy: Policy, done: list[_Done]) -> None:
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
            self._audit_safe(
                "rollback",
                trigger,
                item.record,
                why=f"undo {item.action.name} after a failed heal",
                outcome="ok" if item.record.rollback.get("ok") else "failed",
            )

    def _verdict(self, trigger: Trigger, issue_class: str, action: str, ok: bool, guards: Any) -> None:
        state = self.guards.record_heal(action, trigger.service, ok, guards)
        with self._lock:
            stat = self._stats.setdefault((issue_class, action), [0, 0])
            stat[0] += int(ok)
            stat[1] += 1
        self.audit.append(
            AuditRecord(
                event="heal",
                actor=self.actor,
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

    def _mark_healing(self, service: str, policy: Policy) -> None:
        window = SETTLE_SECONDS + (policy.validation.within_seconds if policy.validation else 0.0)
        with self._lock:
            self._healing_until[service] = self.clock.now() + window

    def _health_url(self, service: str, endpoint: str | None) -> str:
        conf = self.config.services.get(service)
        path = endpoint or (conf.health_path if conf and conf.health_path else f"/api/health/{service}")
        if path.startswith(("http://", "https://")):
            return path
        base = (conf.admin_url if conf and conf.admin_url else self.default_base_url).rstrip("/")
        return base + (path if path.startswith("/") else "/" + path)

    # -- escalation --------------------------------------------------------------------------

    def _escalate(
        self, trigger: Trigger, policy: Policy, issue_class: str, why: str, records: list[ActionDecision]
    ) -> None:
        # Without an incident id, group by service and issue, so a flapping fault is one conversation.
        group = trigger.incident_id or f"{trigger.service}/{issue_class}"
        note = Notification(
            title=f"{issue_class} on {trigger.service}: needs a human",
            summary=why,
            service=trigger.service,
            severity=trigger.severity.value,
            group_key=group,
            issue_class=issue_class,
            actions=[
                {"action": r.action, "status": r.status, "detail": r.detail[:200]}
                for r in records
                if r.action
            ],
            details={"trigger": trigger.id, "policy": policy.name, "reason": trigger.reason},
            created_at=self.clock.now(),
        )
        update: tuple[Notification, list[str]] | None = None
        with self._lock:
            ladder = self._ladders.get(group)
            if ladder is None or ladder.resolved:
                self._ladders[group] = _Ladder(self.clock.now(), policy, note, set())
            else:  # still open: keep climbing the same ladder, with the latest news
                if ladder.sent_levels and note.summary != ladder.note.summary:
                    level = max(ladder.sent_levels)
                    update = (_replace_level(note, level, note.created_at), policy.escalation[level].notify)
                ladder.note = note
        if not policy.escalation:
            self._audit_escalation(group, note, [])
            return
        if update is not None:  # news on an open escalation: the router groups it into a digest
            self._audit_escalation(group, update[0], self.notifier.notify(*update))
        self.tick()

    def _audit_escalation(self, group: str, note: Notification, sent: list[Delivery]) -> None:
        self.audit.append(
            AuditRecord(
                event="escalation",
                actor=self.actor,
                service=note.service,
                incident_id=group,
                issue_class=note.issue_class,
                why=note.summary,
                outcome=",".join(sorted({d.status for d in sent})) or "no-channels",
                result={"level": note.level, "deliveries": [d.__dict__ for d in sent]},
            )
        )

    # -- bookkeeping -------------------------------------------------------------------------

    def _record(self, trigger: Trigger, issue_class: str, status: Status, **fields: Any) -> ActionDecision:
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

    def _decide(
        self, event: str, trigger: Trigger, issue_class: str, status: Status, **fields: Any
    ) -> ActionDecision:
        """A record of a decision, audited with its detail as the reason: most decisions are one of these."""
        record = self._record(trigger, issue_class, status, **fields)
        self._audit_safe(event, trigger, record, why=record.detail)
        return record

    def _audit_safe(
        self, event: str, trigger: Trigger, record: ActionDecision, *, why: str, outcome: str | None = None
    ) -> None:
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

    def _load_stats(self) -> None:
        for row in self.audit.records():
            if row.event == "heal" and row.issue_class and row.action:
                stat = self._stats.setdefault((row.issue_class, row.action), [0, 0])
                stat[0] += int(row.outcome == "healed")
                stat[1] += 1


def _rollback_note(done: list[_Done]) -> str:
    """What the rollback did, for the human: a failed undo is the most urgent thing to say."""
    failed = [d.action.name for d in done if d.record.rollback and d.record.rollback.get("ok") is False]
    undone = [d.action.name for d in done if d.record.rollback and d.record.rollback.get("ok") is True]
    if failed:
        return f"; ROLLBACK FAILED for {', '.join(failed)}: the service may be half-changed"
    if undone:
        return f"; rolled back {', '.join(undone)}"
    return ""


def _replace_level(note: Notification, level: int, now: float) -> Notification:
    from dataclasses import replace

    return replace(note, level=level, created_at=now)


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


__all__ = ["SETTLE_SECONDS", "HealingExecutor"]
