"""The healing executor: from a trigger to safe, validated, audited actions (or a human, if not safe).

Entry point: ``HealingExecutor.handle(trigger) -> list[ActionDecision]``. It is synchronous, never
raises (a bug becomes an ``error`` record and an audit line), and is idempotent: every action step
has the key ``<incident or trigger id>:<action>:<step>``, claimed atomically in SQLite before it
runs, so an at-least-once pipeline that delivers the same detection twice gets one action.

This module *acts*; it composes the other concerns: the planner (``planner.py``: classify, pick the
policy, the pre-action checks, mode off, dry-run and shadow) says what to do; approvals
(``approvals.py``) hold a plan for a human in mode approve; here each step passes every guard and
runs, then health is validated, a failed heal rolled back (``rollback.py``), and humans are told
through the escalation ladders (``escalation.py``). Every decision is audited (``decisions.py``).
One process owns an executor (the responder): its guards' in-memory state is not shared.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from forewarn.field_crypto import FieldCipher
from forewarn.healing.actions.base import ActionContext
from forewarn.healing.actions.output import basic_redact
from forewarn.healing.actions.registry import ActionRegistry, default_registry
from forewarn.healing.approvals import Approval, Approvals
from forewarn.healing.audit import AuditLog, AuditRecord
from forewarn.healing.clock import Clock, SystemClock
from forewarn.healing.config import HealingConfig, Policy, strictest
from forewarn.healing.decisions import Recorder
from forewarn.healing.dependencies import DependencyMap
from forewarn.healing.errors import ActionFailed, GuardRejected, HealingError
from forewarn.healing.escalation import Escalator
from forewarn.healing.guards import Guards
from forewarn.healing.kill_switch import KillSwitch
from forewarn.healing.notify.channels import Channel, build_channels
from forewarn.healing.notify.router import Delivery, NotificationRouter
from forewarn.healing.paths import HealingPaths
from forewarn.healing.planner import Planner
from forewarn.healing.records import ActionDecision
from forewarn.healing.rollback import Done, rollback, rollback_note
from forewarn.healing.state import StateStore
from forewarn.healing.triggers import Trigger
from forewarn.healing.validation import health_url, validate_health
from forewarn.settings import ActionSettings

# After a root cause's heal ends, its dependents stay suppressed this long (they need time to recover).
SETTLE_SECONDS = 60.0


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
        dependencies: Mapping[str, Iterable[str]] | None = None,
        action_settings: ActionSettings | None = None,
        redact: Callable[[str], str] | None = None,
        audit_cipher: FieldCipher | None = None,
        http_verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.config = config
        self.paths = paths
        self.clock: Clock = clock or SystemClock()
        self.registry = registry or default_registry()
        self.global_mode = strictest(global_mode, config.mode)
        self.default_base_url = default_base_url.rstrip("/")
        self.actor = actor
        self.audit = AuditLog(paths.audit_log, clock=self.clock, cipher=audit_cipher)
        self.store = StateStore(paths.state_db, cipher=audit_cipher)
        self.kill_switch = KillSwitch(paths.kill_switch_file, clock=self.clock)
        self.deps = DependencyMap(config.services, dependencies)
        self.action_settings = action_settings or ActionSettings()
        self.redact = redact or basic_redact
        self.guards = Guards(self.store, self.kill_switch, self.clock, self.deps)
        self._own_http = http is None
        # Validation probes the target's health over the same TLS trust as its admin calls.
        self.http = http or httpx.Client(timeout=10.0, verify=http_verify)
        self.admin_client_for = admin_client_for or (lambda service: None)
        self.notifier = NotificationRouter(
            config.notifications,
            channels if channels is not None else build_channels(config.notifications.channels),
            self.clock,
            memory=self.store,  # what was delivered survives a restart: no duplicate after kill -9
        )
        self.recorder = Recorder(self.audit, self.clock, actor, self.global_mode)
        self.planner = Planner(config, self.registry, self.guards, self.recorder)
        self.approvals = Approvals(config, self.store, self.recorder)
        # Open ladders are kept in the state store: a restart mid-incident keeps climbing them.
        policies = {policy.name: policy for policy in config.policies}
        self.escalation = Escalator(
            self.notifier, self.audit, self.clock, actor, store=self.store, policies=policies
        )
        self._lock = threading.RLock()
        self._healing_until: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Any = None, **overrides: Any) -> HealingExecutor:
        """Build from ``forewarn.settings`` (admin key signing, paths, config file, global mode)."""
        from forewarn.healing.wiring import parts_from_settings

        config, paths, options = parts_from_settings(settings, overrides)
        return cls(config, paths, **options)

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
            record = self.recorder.record(trigger, "unknown", "error", detail=f"{type(exc).__name__}: {exc}")
            self.recorder.log("decision", trigger, record, why="internal error while handling the trigger")
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
        now = self.clock.now()
        deliveries = self.escalation.tick()
        self.approvals.expire(now, self._escalate_expired)
        return deliveries

    def resolve(self, group_id: str) -> list[Delivery]:
        """Stop the escalation ladder of a group (an incident id, or ``service/issue_class``) and
        resolve its alerts where the channel keeps them (PagerDuty ``resolve``, dedup_key = group)."""
        return self.escalation.resolve(group_id)

    def recover(self) -> list[ActionDecision]:
        """After a restart: finish the steps a crash cut (validate them, or undo, or escalate).

        Run once at start-up, before any new trigger; a step found in flight is never run again.
        """
        from forewarn.healing.recovery import recover_in_flight

        try:
            return recover_in_flight(self)
        except Exception as exc:  # recovery must not stop the responder from starting
            record = ActionDecision(
                trigger_id="recovery",
                group_id="recovery",
                service="forewarn",
                issue_class="unknown",
                mode=self.global_mode,
                status="error",
                detail=f"recovery failed: {type(exc).__name__}: {exc}",
                at=self.clock.now(),
            )
            self.audit.append(
                AuditRecord(event="recovery", actor=self.actor, why=record.detail, outcome="error")
            )
            return [record]

    def success_rate(self, issue_class: str, action: str) -> float:
        """Laplace-smoothed share of heals of ``issue_class`` by ``action`` that validated."""
        return self.planner.success_rate(issue_class, action)

    # -- approvals and shadow mode -----------------------------------------------------------

    def pending_approvals(self) -> list[dict[str, Any]]:
        return self.approvals.pending()

    def approval(self, approval_id: str) -> dict[str, Any] | None:
        """One approval request (any status), or None."""
        return self.approvals.get(approval_id)

    def approve(self, approval_id: str, by: str = "operator") -> list[ActionDecision]:
        """Approve a pending plan and run it now (every guard still applies)."""
        trigger, policy_name, issue_class = self.approvals.approve(approval_id, by)
        return self._execute(trigger, self.planner.policy(policy_name), issue_class, "auto")

    def reject(self, approval_id: str, by: str = "operator") -> bool:
        return self.approvals.reject(approval_id, by)

    def record_human_action(self, group_id: str, action: str, actor: str = "human") -> dict[str, Any]:
        """Shadow mode: compare what a human did with what the executor would have done."""
        return self.planner.record_human_action(group_id, action, actor)

    # -- the decision ------------------------------------------------------------------------

    def _handle(self, trigger: Trigger) -> list[ActionDecision]:
        plan = self.planner.plan(trigger, self._healing_roots)
        if plan.records and plan.policy is None and plan.records[0].status == "no_policy":
            self.escalation.unmatched(trigger, plan.issue_class)  # routed notifications still go out
            return plan.records
        if plan.records:
            if plan.escalate and plan.policy is not None:
                record = plan.records[0]
                self._escalate(trigger, plan.policy, plan.issue_class, record.detail, plan.records)
            return plan.records
        assert plan.policy is not None
        if plan.mode == "approve":
            record, created = self.approvals.request(trigger, plan.policy, plan.issue_class, plan.actions)
            if created:
                why = f"approval needed: {record.result['approval_id']}"
                self._escalate(trigger, plan.policy, plan.issue_class, why, [record])
            return [record]
        return self._execute(trigger, plan.policy, plan.issue_class, plan.mode)

    def _healing_roots(self, service: str, now: float) -> list[str]:
        return sorted(a for a in self.deps.ancestors(service) if self._healing_until.get(a, 0) > now)

    # -- acting ------------------------------------------------------------------------------

    def _execute(self, trigger: Trigger, policy: Policy, issue_class: str, mode: str) -> list[ActionDecision]:
        guards = self.config.guards.merged(policy.guards)
        service = trigger.service
        records: list[ActionDecision] = []
        done: list[Done] = []
        for step_index, step in enumerate(policy.actions):
            name = self.planner.choose(step, issue_class)
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
            plan = dict(base, trigger=trigger.model_dump(mode="json"), issue_class=issue_class)
            if not self.store.claim(key, self.clock.now(), plan):
                previous = self.store.claimed(key)
                record = self.recorder.decide(
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
                    ctx = self.context(service, key, f"{issue_class} on {service}: {trigger.reason}")
                    # Write-ahead: the claim holds the plan; this line says the call is about to go out.
                    started = self.recorder.record(trigger, issue_class, "succeeded", **base)
                    self.recorder.log("start", trigger, started, why=f"calling {name}", outcome="started")
                    try:
                        outcome = action.run(params, ctx)
                    finally:
                        self._mark_healing(service, policy)
                    self.store.set_run_result(run_id, True)
            except GuardRejected as exc:
                record = self.recorder.record(trigger, issue_class, "rejected", **base, detail=str(exc))
                self.store.finish(key, "rejected", {"guard": exc.guard, "detail": str(exc)})
                self.recorder.log("skipped", trigger, record, why=f"guard {exc.guard} refused: {exc}")
                records.append(record)
                if exc.guard != "kill-switch":
                    self._escalate(
                        trigger, policy, issue_class, f"{name} refused by guard {exc.guard}", records
                    )
                break
            except ActionFailed as exc:
                record = self.recorder.record(trigger, issue_class, "failed", **base, detail=str(exc))
                self.store.finish(key, "failed", {"detail": str(exc)})
                self.recorder.log(
                    "attempt", trigger, record, why=f"step {step_index} of policy {policy.name}"
                )
                self.planner.verdict(trigger, issue_class, name, False, guards)
                records.append(record)
                self._rollback(trigger, policy, done)
                self._settle(done)
                why = f"{name} failed: {exc}" + rollback_note(done)
                self._escalate(trigger, policy, issue_class, why, records)
                return records
            record = self.recorder.record(
                trigger, issue_class, "succeeded", **base, detail=outcome.detail, result=outcome.as_dict()
            )
            self.store.finish(key, "ran", outcome.as_dict())  # validation still to come
            self.recorder.log(
                "attempt", trigger, record, why=f"step {step_index} of policy {policy.name}", outcome="ran"
            )
            done.append(Done(action, params, outcome, ctx, record))
            records.append(record)
        if not done:
            return records
        if policy.validation is None:
            for item in done:
                self.planner.verdict(trigger, issue_class, item.action.name, True, guards)
            self._settle(done)
            self.resolve(trigger.incident_id or f"{service}/{issue_class}")
            return records
        url = health_url(self.config, service, policy.validation.endpoint, self.default_base_url)
        result = validate_health(self.http, url, policy.validation, self.clock)
        for item in done:
            item.record.validation = result.as_dict()
        self.recorder.log(
            "validation",
            trigger,
            done[-1].record,
            why=result.detail,
            outcome="ok" if result.ok else "failed",
        )
        self._mark_healing(service, policy)
        if result.ok:
            for item in done:
                self.planner.verdict(trigger, issue_class, item.action.name, True, guards)
            self._settle(done)
            self.resolve(trigger.incident_id or f"{service}/{issue_class}")
            return records
        for item in done:
            item.record.status = "not_validated"
            self.planner.verdict(trigger, issue_class, item.action.name, False, guards)
        self._rollback(trigger, policy, done)
        self._settle(done)
        why = f"validation failed: {result.detail}" + rollback_note(done)
        self._escalate(trigger, policy, issue_class, why, records)
        return records

    def context(self, service: str, key: str, reason: str) -> ActionContext:
        """What an action (or its undo) may touch, for ``service`` under idempotency ``key``."""
        return ActionContext(
            service=service,
            clock=self.clock,
            idempotency_key=key,
            admin=self.admin_client_for(service),
            reason=reason[:300],
            http=self.http,
            settings=self.action_settings,
            redact=self.redact,
        )

    def _settle(self, done: list[Done]) -> None:
        """The steps' final status in the state store: validated (``ok``) or what the rollback left."""
        for item in done:
            if item.record.idempotency_key is not None:
                status = "ok" if item.record.status == "succeeded" else item.record.status
                self.store.finish(item.record.idempotency_key, status, item.outcome.as_dict())

    def _rollback(self, trigger: Trigger, policy: Policy, done: list[Done]) -> None:
        def audit(record: ActionDecision, why: str, outcome: str) -> None:
            self.recorder.log("rollback", trigger, record, why=why, outcome=outcome)

        rollback(policy, done, audit)

    def _mark_healing(self, service: str, policy: Policy) -> None:
        window = SETTLE_SECONDS + (policy.validation.within_seconds if policy.validation else 0.0)
        with self._lock:
            self._healing_until[service] = self.clock.now() + window

    # -- escalation --------------------------------------------------------------------------

    def escalate(
        self, trigger: Trigger, policy: Policy, issue_class: str, why: str, records: list[ActionDecision]
    ) -> None:
        """Open or update the group's escalation ladder and send what is already due."""
        self._escalate(trigger, policy, issue_class, why, records)

    def _escalate(
        self, trigger: Trigger, policy: Policy, issue_class: str, why: str, records: list[ActionDecision]
    ) -> None:
        if self.escalation.escalate(trigger, policy, issue_class, why, records):
            self.tick()  # send the levels (and digests) that are already due

    def _escalate_expired(self, approval: Approval, record: ActionDecision) -> None:
        trigger, policy_name, issue_class = approval
        try:
            policy = self.planner.policy(policy_name)
        except HealingError:
            return
        self._escalate(trigger, policy, issue_class, record.detail, [record])


__all__ = ["SETTLE_SECONDS", "HealingExecutor"]
