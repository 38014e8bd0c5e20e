"""The executor's decisions (modes, early action, dependencies, success rates, breakers) with a test
double action; the real actions against the real service are in test_against_demo.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forewarn.events import Severity
from forewarn.healing.audit import AuditLog, AuditRecord
from forewarn.healing.clock import ManualClock
from forewarn.healing.executor import SETTLE_SECONDS, HealingExecutor
from forewarn.healing.paths import HealingPaths
from forewarn.healing.triggers import Trigger

from .fakes import config, registry_with_fakes
from .helpers import at, detection

pytestmark = pytest.mark.unit


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


def _executor(tmp_path: Path, clock: ManualClock, **overrides: Any) -> tuple[HealingExecutor, Any, Any, Any]:
    registry, fix, other, irreversible = registry_with_fakes()
    global_mode = overrides.pop("global_mode", "auto")
    executor = HealingExecutor(
        config(registry, **overrides),
        HealingPaths.under(tmp_path / "state"),
        clock=clock,
        registry=registry,
        global_mode=global_mode,
    )
    return executor, fix, other, irreversible


def _forecast(clock: ManualClock, lead: float = 600.0, **kw: Any) -> Trigger:
    values: dict[str, Any] = {
        "id": f"fc-{int(clock.now())}",
        "source": "forecast",
        "kind": "memory_exhaustion",
        "service": "email",
        "series": "email/memory_usage",
        "breach_probability": 0.9,
        "lead_time_seconds": lead,
        "timestamp": at(clock),
    }
    values.update(kw)
    return Trigger(**values)


def test_auto_runs_once_and_dedupes(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock)
    trigger = detection(clock, "email")
    assert [r.status for r in executor.handle(trigger)] == ["succeeded"]
    assert [r.status for r in executor.handle(trigger)] == ["duplicate"]
    assert len(fix.runs) == 1
    assert fix.runs[0][1] == f"{trigger.id}:fake-fix:0"


def test_modes_off_dry_run_shadow_never_act(tmp_path: Path, clock: ManualClock) -> None:
    for mode, status in (("off", "skipped"), ("dry-run", "dry_run"), ("shadow", "shadow")):
        executor, fix, _, _ = _executor(tmp_path / mode, clock, global_mode=mode)
        records = executor.handle(detection(clock, "email"))
        assert [r.status for r in records] == [status]
        assert fix.runs == []
        if mode == "dry-run":
            assert "guards would allow it" in records[0].detail
        executor.close()


def test_shadow_compares_with_the_human(tmp_path: Path, clock: ManualClock) -> None:
    executor, _, _, _ = _executor(tmp_path, clock, global_mode="shadow")
    trigger = detection(clock, "email")
    executor.handle(trigger)
    assert executor.record_human_action(trigger.group_id, "fake-fix")["agree"] is True
    assert executor.record_human_action(trigger.group_id, "restart-service")["agree"] is False
    outcomes = [r.outcome for r in executor.audit.records() if r.event == "shadow"]
    assert outcomes == ["agree", "disagree"]


def test_approve_mode_waits_then_runs_on_approval(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock, global_mode="approve")
    trigger = detection(clock, "email")
    [pending] = executor.handle(trigger)
    assert pending.status == "pending_approval" and fix.runs == []
    approval_id = pending.result["approval_id"]
    assert [a["id"] for a in executor.pending_approvals()] == [approval_id]
    records = executor.approve(approval_id, by="alice")
    assert [r.status for r in records] == ["succeeded"] and len(fix.runs) == 1
    assert executor.pending_approvals() == []


def test_approval_times_out_into_an_escalation(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock, global_mode="approve")
    [pending] = executor.handle(detection(clock, "email"))
    clock.advance(121)
    executor.tick()
    assert executor.pending_approvals() == []
    assert fix.runs == []
    assert any(r.event == "approval" and r.outcome == "escalated" for r in executor.audit.records())
    from forewarn.healing.errors import GuardRejected

    with pytest.raises(GuardRejected):
        executor.approve(pending.result["approval_id"])


def test_policy_mode_can_be_stricter_than_global(tmp_path: Path, clock: ManualClock) -> None:
    registry, fix, _, _ = registry_with_fakes()
    conf = config(
        registry,
        policies=[
            {
                "name": "p",
                "mode": "dry-run",
                "trigger": {"issue_class": "outage"},
                "actions": [{"action": "fake-fix"}],
            }
        ],
    )
    executor = HealingExecutor(conf, HealingPaths.under(tmp_path), clock=clock, registry=registry)
    assert [r.status for r in executor.handle(detection(clock, "email"))] == ["dry_run"]
    assert fix.runs == []


def test_early_action_only_when_reversible(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock)
    assert [r.status for r in executor.handle(_forecast(clock))] == ["succeeded"]
    assert len(fix.runs) == 1

    registry, _, _, irreversible = registry_with_fakes()
    conf = config(
        registry,
        policies=[
            {
                "name": "early-irreversible",
                "trigger": {"issue_class": "memory_leak"},
                "actions": [{"action": "fake-irreversible"}],
            }
        ],
    )
    strict = HealingExecutor(conf, HealingPaths.under(tmp_path / "b"), clock=clock, registry=registry)
    [record] = strict.handle(_forecast(clock, id="fc-2"))
    assert record.status == "escalated" and "cannot be undone" in record.detail
    assert irreversible.runs == []
    # The same irreversible action is fine once the breach is observed (a detection, not a forecast).
    observed = detection(clock, "email", kind="metric_anomaly", series="email/memory_usage")
    assert [r.status for r in strict.handle(observed)] == ["succeeded"]


def test_forecast_thresholds_gate_the_policy(tmp_path: Path, clock: ManualClock) -> None:
    registry, fix, _, _ = registry_with_fakes()
    conf = config(
        registry,
        policies=[
            {
                "name": "leak",
                "trigger": {
                    "issue_class": "memory_leak",
                    "min_breach_probability": 0.8,
                    "max_lead_time_seconds": 900,
                    "min_confidence": 0.5,
                },
                "actions": [{"action": "fake-fix"}],
            }
        ],
    )
    executor = HealingExecutor(conf, HealingPaths.under(tmp_path), clock=clock, registry=registry)
    assert executor.handle(_forecast(clock, id="a", breach_probability=0.5))[0].status == "no_policy"
    assert executor.handle(_forecast(clock, id="b", lead=3600))[0].status == "no_policy"
    assert executor.handle(_forecast(clock, id="c", confidence=0.2))[0].status == "no_policy"
    assert executor.handle(_forecast(clock, id="d"))[0].status == "succeeded"
    assert len(fix.runs) == 1


def test_dependents_are_suppressed_while_the_root_cause_heals(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock)
    assert executor.handle(detection(clock, "database"))[0].status == "succeeded"
    clock.advance(5)
    [auth] = executor.handle(detection(clock, "auth"))
    assert auth.status == "suppressed" and "database" in auth.detail
    [payments] = executor.handle(detection(clock, "payments"))
    assert payments.status == "suppressed"
    assert executor.handle(detection(clock, "email"))[0].status == "succeeded", "unrelated: not held back"
    clock.advance(SETTLE_SECONDS + 1)
    assert executor.handle(detection(clock, "auth"))[0].status == "succeeded"
    assert [s for s, _ in fix.runs] == ["database", "email", "auth"]


def test_handle_many_heals_root_causes_first_then_by_impact(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock)
    batch = [detection(clock, s) for s in ("payments", "email", "auth", "database")]
    records = executor.handle_many(batch)
    assert [r.service for r in records] == ["database", "auth", "payments", "email"]
    assert [r.status for r in records] == ["succeeded", "suppressed", "suppressed", "succeeded"]
    assert [s for s, _ in fix.runs] == ["database", "email"]


def test_one_of_picks_the_action_with_the_best_record(tmp_path: Path, clock: ManualClock) -> None:
    state = tmp_path / "state"
    log = AuditLog(HealingPaths.under(state).audit_log, clock=clock)
    for outcome in ("not_healed", "not_healed", "healed"):
        log.append(AuditRecord(event="heal", action="fake-fix", issue_class="outage", outcome=outcome))
    for _ in range(3):
        log.append(AuditRecord(event="heal", action="other-fix", issue_class="outage", outcome="healed"))
    registry, fix, other, _ = registry_with_fakes()
    conf = config(
        registry,
        policies=[
            {
                "name": "p",
                "trigger": {"issue_class": "outage"},
                "actions": [{"one_of": ["fake-fix", "other-fix"]}],
            }
        ],
    )
    executor = HealingExecutor(conf, HealingPaths.under(state), clock=clock, registry=registry)
    assert executor.success_rate("outage", "other-fix") > executor.success_rate("outage", "fake-fix")
    [record] = executor.handle(detection(clock, "email"))
    assert record.action == "other-fix" and len(other.runs) == 1 and fix.runs == []


def test_failures_open_the_breaker_then_half_open_allows_one_trial(
    tmp_path: Path, clock: ManualClock
) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock)
    fix.fail = True
    for i in range(2):
        clock.advance(61)
        assert executor.handle(detection(clock, "email", id=f"f{i}"))[0].status == "failed"
    clock.advance(61)
    [blocked] = executor.handle(detection(clock, "email", id="f2"))
    assert blocked.status == "rejected" and blocked.detail.startswith("circuit-breaker")
    clock.advance(300)
    fix.fail = False
    assert executor.handle(detection(clock, "email", id="f3"))[0].status == "succeeded", "half-open trial"
    row = executor.store.breaker("fake-fix", "email")
    assert (row.failures, row.opened_at) == (0, None), "closed again after a good trial"


def test_a_bug_in_an_action_never_escapes_handle(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock)
    fix.explode = True
    [record] = executor.handle(detection(clock, "email"))
    assert record.status == "error" and "bug in an action" in record.detail
    assert executor.audit.verify().ok


def test_no_policy_and_escalate_only_policies(tmp_path: Path, clock: ManualClock) -> None:
    executor, _fix, _, _ = _executor(tmp_path, clock)
    trigger = detection(clock, "email", kind="latency_anomaly", severity=Severity.WARNING)
    assert executor.handle(trigger)[0].status == "no_policy"
    registry, fix2, _, _ = registry_with_fakes()
    conf = config(registry, policies=[{"name": "page", "trigger": {"issue_class": "outage"}, "actions": []}])
    paging = HealingExecutor(conf, HealingPaths.under(tmp_path / "p"), clock=clock, registry=registry)
    assert paging.handle(detection(clock, "email"))[0].status == "escalated"
    assert fix2.runs == []


def test_incident_trigger_uses_the_root_detection(tmp_path: Path, clock: ManualClock) -> None:
    from dataclasses import dataclass, field

    from forewarn.events import Detection
    from forewarn.healing.triggers import from_incident
    from tests.factories import make_detection

    stamp = at(clock)
    root = make_detection(
        "email",
        stamp,
        series="email/latency_ms",
        detector="zscore",
        confidence=0.8,
        expected=None,
        reason="email down",
    )

    @dataclass
    class Incident:
        id: str
        service: str
        severity: Severity
        updated_at: Any
        detections: list[Detection] = field(default_factory=list)

    trigger = from_incident(Incident("inc-9", "email", Severity.CRITICAL, stamp, [root]))
    assert (trigger.kind, trigger.series, trigger.incident_id) == ("failure", "email/latency_ms", "inc-9")
    executor, fix, _, _ = _executor(tmp_path, clock)
    assert executor.handle(trigger)[0].status == "succeeded"
    assert fix.runs[0][1] == "inc-9:fake-fix:0", "the idempotency key is incident + action + step"
    again = Trigger.from_detection(root, incident_id="inc-9")
    assert executor.handle(again)[0].status == "duplicate", "another detection of the same incident"


def test_concurrent_deliveries_and_cascades(tmp_path: Path, clock: ManualClock) -> None:
    """Two threads with the same detection: one action. A dependent arriving mid-heal: held back."""
    import threading

    from pydantic import BaseModel

    from forewarn.healing.actions.base import ActionContext, ActionOutcome

    executor, fix, _, _ = _executor(tmp_path, clock)
    entered = threading.Event()
    release = threading.Event()
    original = fix.run

    def slow_run(params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        entered.set()
        assert release.wait(10)
        outcome: ActionOutcome = original(params, ctx)
        return outcome

    fix.run = slow_run
    trigger = detection(clock, "database")
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.extend(r.status for r in executor.handle(trigger)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    assert entered.wait(10)
    [dependent] = executor.handle(detection(clock, "payments"))
    assert dependent.status == "suppressed", "payments depends on the database being healed right now"
    release.set()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == ["duplicate", "succeeded"]
    assert len(fix.runs) == 1


def test_stale_triggers_are_not_acted_on(tmp_path: Path, clock: ManualClock) -> None:
    executor, fix, _, _ = _executor(tmp_path, clock)
    old = detection(clock, "email")
    clock.advance(901)
    [record] = executor.handle(old)
    assert record.status == "skipped" and "stale trigger" in record.detail
    assert fix.runs == []
