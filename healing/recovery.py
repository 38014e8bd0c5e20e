"""Finish what a crash cut: the steps found in flight in the state store when the executor starts.

Why: a ``kill -9`` can land while an admin call is on the wire, or after it answered and before its
validation was recorded. Running the step again could do it twice (a second restart, a second
failover); forgetting it leaves a heal that nobody checked. Each step is claimed with its plan before
the call (status ``running``) and marked ``ran`` with the answer before validation (see
``healing/state.py``), so on start-up we know which steps, and what they answered if they did.

For each cut policy run, once: validate the service's health as the policy says. Healthy: the steps
are ``succeeded`` (recovered). Not healthy: undo the steps whose answer (and undo request) we have,
and escalate to a human, saying which step's outcome is unknown. A step is never run again here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from forewarn.healing.actions.base import ActionOutcome
from forewarn.healing.errors import HealingError
from forewarn.healing.records import ActionDecision
from forewarn.healing.rollback import Done, rollback, rollback_note
from forewarn.healing.state import InFlight
from forewarn.healing.triggers import Trigger
from forewarn.healing.validation import health_url, validate_health

if TYPE_CHECKING:
    from forewarn.healing.executor import HealingExecutor

__all__ = ["recover_in_flight"]

UNKNOWN = "in flight when forewarn stopped; its outcome is unknown"


def recover_in_flight(executor: HealingExecutor) -> list[ActionDecision]:
    """Validate, undo or escalate every cut policy run; returns the records to publish."""
    out: list[ActionDecision] = []
    for rows in _runs(executor.store.in_flight()):
        out.extend(_recover_run(executor, rows))
    return out


def _runs(rows: Iterable[InFlight]) -> list[list[InFlight]]:
    """Group the rows by the policy run they belong to (trigger group and policy), steps in order."""
    runs: dict[tuple[str, str], list[InFlight]] = {}
    for row in rows:
        trigger = row.plan.get("trigger") or {}
        group = str(trigger.get("incident_id") or trigger.get("id") or row.key)
        runs.setdefault((group, str(row.plan.get("policy"))), []).append(row)
    return [sorted(steps, key=lambda r: int(r.plan.get("step") or 0)) for steps in runs.values()]


def _recover_run(executor: HealingExecutor, rows: list[InFlight]) -> list[ActionDecision]:
    plan = rows[0].plan
    if not plan.get("trigger"):  # a claim from before the write-ahead plan: nothing to go on
        for row in rows:
            executor.store.finish(row.key, "unknown", {"detail": UNKNOWN + "; no plan was recorded"})
        return []
    trigger = Trigger.model_validate(plan["trigger"])
    issue_class = str(plan.get("issue_class") or "unknown")
    records: list[ActionDecision] = []
    done: list[Done] = []
    unknown: list[str] = []
    for row in rows:
        fields = {k: row.plan.get(k) for k in ("policy", "mode", "step", "action", "params")}
        record = executor.recorder.record(
            trigger, issue_class, "succeeded", idempotency_key=row.key, **fields, detail=""
        )
        records.append(record)
        if row.status == "running":
            unknown.append(str(row.plan.get("action")))
            record.detail = f"{UNKNOWN}; not run again"
            continue
        action = executor.registry.get(str(row.plan.get("action")))
        outcome = ActionOutcome(
            ok=bool(row.result.get("ok", True)),
            detail=str(row.result.get("detail", "")),
            data=dict(row.result.get("data") or {}),
            undo_state=dict(row.result.get("undo_state") or {}),
        )
        record.detail = f"ran before forewarn stopped ({outcome.detail}); validated after the restart"
        record.result = outcome.as_dict()
        ctx = executor.context(trigger.service, row.key, f"recovery of {issue_class} on {trigger.service}")
        done.append(Done(action, action.parse(row.plan.get("params")), outcome, ctx, record))
    try:
        policy = executor.planner.policy(str(plan.get("policy")))
    except HealingError as exc:
        return _give_up(executor, trigger, rows, records, f"cannot validate: {exc}")
    ok = False
    if policy.validation is not None:
        url = health_url(
            executor.config, trigger.service, policy.validation.endpoint, executor.default_base_url
        )
        result = validate_health(executor.http, url, policy.validation, executor.clock)
        for record in records:
            record.validation = result.as_dict()
        ok = result.ok
        why = result.detail
    else:
        ok = not unknown  # nothing to check against: only steps we saw answer count as done
        why = "no validation configured"
    if ok:
        for row, record in zip(rows, records, strict=True):
            executor.store.finish(row.key, "ok", {**record.result, "recovered": True})
            executor.recorder.log("recovery", trigger, record, why=f"validated after a restart: {why}")
        executor.resolve(trigger.incident_id or f"{trigger.service}/{issue_class}")
        return records
    for record in records:
        record.status = "not_validated"
    rollback(policy, done, lambda r, w, o: executor.recorder.log("rollback", trigger, r, why=w, outcome=o))
    note = rollback_note(done)
    if unknown:
        note += f"; the outcome of {', '.join(unknown)} is unknown (it was not run again)"
    return _give_up(executor, trigger, rows, records, f"not healthy after a restart: {why}{note}", policy)


def _give_up(
    executor: HealingExecutor,
    trigger: Trigger,
    rows: list[InFlight],
    records: list[ActionDecision],
    why: str,
    policy: object = None,
) -> list[ActionDecision]:
    """Record the final status of every step, audit it and hand the incident to a human."""
    from forewarn.healing.config import Policy

    issue_class = records[0].issue_class
    for row, record in zip(rows, records, strict=True):
        if record.status == "succeeded":
            record.status = "not_validated"
        executor.store.finish(row.key, record.status, {**record.result, "recovered": True, "detail": why})
        executor.recorder.log("recovery", trigger, record, why=why)
    if isinstance(policy, Policy):
        executor.escalate(trigger, policy, issue_class, why, records)
    else:  # the policy is gone: the routes still tell someone
        executor.escalation.unmatched(trigger, issue_class)
    return records
