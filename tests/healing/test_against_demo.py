"""The healing executor against the REAL demo service over HTTP (signed admin API, real health checks).

One clock drives the service's simulation, the request signer and the executor, so a 10-minute
flapping fault or a 45-minute leak runs in well under a second of wall time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from forewarn.cli import app as cli_app
from forewarn.events import Severity
from forewarn.healing.audit import verify_log
from forewarn.healing.clock import ManualClock
from forewarn.healing.config import EscalationStep, HealingConfig, NotificationConfig, load_config
from forewarn.healing.triggers import Trigger
from forewarn.musobuddy.server import RunningApp

from .conftest import ExecutorFactory, HttpReceiver, SmtpReceiver, health, inject, state
from .helpers import at, detection

pytestmark = pytest.mark.integration


def _memory_forecast(http: httpx.Client, demo: RunningApp, clock: ManualClock) -> tuple[Trigger, float]:
    """The project's own forecaster (models.trend) fed with real readings of /api/health/overall."""
    from forewarn.models.trend import TrendForecaster

    forecaster = TrendForecaster(halflife_seconds=600, warmup=10)
    for _ in range(30):  # five minutes of probes, one every 10 s
        clock.advance(10)
        details = health(http, demo.base_url, "overall")["details"]
        forecaster.learn_one(float(details["memory_usage"]), clock.now())
    forecast = forecaster.forecast(1800, threshold=1.0)
    assert forecast.time_to_exhaustion_seconds is not None and forecast.breach_probability is not None
    trigger = Trigger.from_forecast(
        forecast,
        service="overall",
        series="overall/memory_usage",
        kind="memory_exhaustion",
        observed_at=at(clock),
    )
    return trigger, clock.now() + forecast.time_to_exhaustion_seconds


def test_leak_forecast_restarts_before_the_breach_and_validates(
    make_executor: ExecutorFactory, demo: RunningApp, http: httpx.Client, clock: ManualClock
) -> None:
    inject(http, demo.base_url, "memory_leak", rate=0.5)  # MiB/s of simulated time
    clock.advance(600)
    trigger, breach_at = _memory_forecast(http, demo, clock)
    assert trigger.predictive and trigger.lead_time_seconds is not None
    executor = make_executor()

    records = executor.handle(trigger)

    assert [r.status for r in records] == ["succeeded"], records
    record = records[0]
    assert record.action == "mitigate-memory-leak"
    assert record.issue_class == "memory_leak"
    assert record.validation is not None and record.validation["ok"] is True
    assert record.at < breach_at, "the restart must happen before the forecast breach"
    print(
        f"\nleak forecast: P(breach)={trigger.breach_probability:.2f}, "
        f"lead {trigger.lead_time_seconds:.0f}s; "
        f"restarted {breach_at - record.at:.0f}s before the forecast breach, then validated"
    )
    after = state(http, demo.base_url)
    assert after["restarts"] == 1
    assert after["oom_killed"] is False
    # Past the moment the breach was forecast for, the service is still alive: the leak was cleared.
    clock.advance(breach_at - clock.now() + 300)
    later = state(http, demo.base_url)
    assert later["oom_killed"] is False
    assert health(http, demo.base_url, "overall")["status"] == "ok"
    assert verify_log(executor.audit.path).ok
    events = [r.event for r in executor.audit.records()]
    assert events == ["start", "attempt", "validation", "heal"]  # "start": the write-ahead line


def _paging_config(receiver: HttpReceiver, smtp: SmtpReceiver) -> HealingConfig:
    """The shipped config, with email failover escalating to Slack and email at once, the pager at 600 s."""
    base = load_config()
    return base.model_copy(
        update={
            "notifications": NotificationConfig.model_validate(
                {
                    "channels": {
                        "slack": {"type": "slack", "url": f"{receiver.url}/slack"},
                        "pagerduty": {"type": "webhook", "url": f"{receiver.url}/pd", "routing_key": "rk-1"},
                        "oncall": {
                            "type": "email",
                            "host": "127.0.0.1",
                            "port": smtp.port,
                            "sender": "forewarn@test",
                            "to": ["oncall@test"],
                        },
                    }
                }
            ),
            "policies": [
                p.model_copy(
                    update={
                        "escalation": [
                            EscalationStep(after_seconds=0, notify=["slack", "oncall"]),
                            EscalationStep(after_seconds=600, notify=["pagerduty"]),
                        ]
                    }
                )
                if p.name == "email-provider-failover"
                else p
                for p in base.policies
            ],
        }
    )


def test_failed_heal_rolls_back_and_escalates(
    make_executor: ExecutorFactory,
    demo: RunningApp,
    http: httpx.Client,
    clock: ManualClock,
    receiver: HttpReceiver,
    smtp: SmtpReceiver,
) -> None:
    """Both email providers down: failover runs, validation fails, it is undone, humans are paged."""
    config = _paging_config(receiver, smtp)
    inject(http, demo.base_url, "email_outage", provider="both")
    clock.advance(5)
    assert health(http, demo.base_url, "email")["status"] == "down"
    executor = make_executor(config)

    records = executor.handle(detection(clock, "email"))

    assert [r.status for r in records] == ["rolled_back"], records
    record = records[0]
    assert record.action == "provider-failover"
    assert record.validation is not None and record.validation["ok"] is False
    assert record.rollback is not None and record.rollback["ok"] is True
    assert state(http, demo.base_url)["email_role"] == "primary", "the failover was undone"
    slack = [r["json"] for r in receiver.received if r["path"] == "/slack"]
    assert len(slack) == 1 and slack[0]["blocks"][0]["type"] == "header"
    assert "email_provider_outage" in slack[0]["blocks"][0]["text"]["text"]
    assert "rolled back provider-failover" in slack[0]["text"]
    assert len(smtp.messages) == 1 and "email_provider_outage" in str(smtp.messages[0]["Subject"])
    assert not [r for r in receiver.received if r["path"] == "/pd"], "level 1 waits 600 s"
    clock.advance(601)
    executor.tick()
    pd = [r["json"] for r in receiver.received if r["path"] == "/pd"]
    assert len(pd) == 1
    assert pd[0]["event_action"] == "trigger" and pd[0]["routing_key"] == "rk-1"
    assert pd[0]["payload"]["severity"] == "critical"
    assert pd[0]["payload"]["custom_details"]["actions"][0]["status"] == "rolled_back"
    events = [r.event for r in executor.audit.records()]
    assert "rollback" in events and "escalation" in events


def test_a_restart_mid_escalation_still_pages_on_time_and_once(
    make_executor: ExecutorFactory,
    demo: RunningApp,
    http: httpx.Client,
    clock: ManualClock,
    receiver: HttpReceiver,
    smtp: SmtpReceiver,
) -> None:
    """The responder is replaced between level 0 (Slack, email) and level 1 (the pager at 600 s).

    Discriminating: ladders used to live in memory only, so the new executor had none and the pager
    was never reached for an incident already escalated. Level 0 is not sent again.
    """
    config = _paging_config(receiver, smtp)
    inject(http, demo.base_url, "email_outage", provider="both")
    clock.advance(5)
    first = make_executor(config)
    assert [r.status for r in first.handle(detection(clock, "email"))] == ["rolled_back"]
    assert len([r for r in receiver.received if r["path"] == "/slack"]) == 1 and len(smtp.messages) == 1
    first.close()

    second = make_executor(config)  # the same state directory: a restarted responder
    clock.advance(300)
    second.tick()
    assert not [r for r in receiver.received if r["path"] == "/pd"], "level 1 waits 600 s from the start"
    clock.advance(301)
    second.tick()
    second.tick()
    assert len([r for r in receiver.received if r["path"] == "/pd"]) == 1
    assert len([r for r in receiver.received if r["path"] == "/slack"]) == 1 and len(smtp.messages) == 1
    open_ladders = [row.group_key for row in second.store.ladders()]
    assert open_ladders == ["email/email_provider_outage"]
    second.escalation.resolve(open_ladders[0])
    assert second.store.ladders() == []  # resolved: nothing left to climb after another restart


def test_action_refused_by_service_fails_and_escalates(
    make_executor: ExecutorFactory, demo: RunningApp, http: httpx.Client, clock: ManualClock
) -> None:
    """A pool reset while the database is unreachable: the service answers 503, the step fails."""
    inject(http, demo.base_url, "db_outage")
    clock.advance(5)
    trigger = detection(clock, "database", kind="metric_anomaly", series="database/db_pool_usage")
    records = make_executor().handle(trigger)
    assert [r.status for r in records] == ["failed"]
    assert "503" in records[0].detail


def _flapping_run(executor: Any, http: httpx.Client, demo: RunningApp, clock: ManualClock) -> dict[str, Any]:
    """10 simulated minutes of a leak that comes back after every restart; a detection every 15 s."""
    inject(http, demo.base_url, "memory_leak", rate=20.0, persistent=True)
    statuses: dict[str, int] = {}
    guards: dict[str, int] = {}
    detections = 0
    start = clock.now()
    while clock.now() - start < 600:
        clock.advance(15)
        overall = health(http, demo.base_url, "overall")
        memory = next(c for c in overall["checks"] if c["name"] == "memory")
        if memory["status"] == "ok":
            continue
        detections += 1
        trigger = detection(
            clock, "overall", kind="metric_anomaly", series="overall/memory_usage", id=f"flap-{detections}"
        )
        for record in executor.handle(trigger):
            statuses[record.status] = statuses.get(record.status, 0) + 1
            if record.status == "rejected":
                guard = record.detail.split(":")[0]
                guards[guard] = guards.get(guard, 0) + 1
    return {"detections": detections, "statuses": statuses, "guards": guards}


def test_flapping_fault_for_ten_minutes_budget_holds(
    make_executor: ExecutorFactory,
    demo: RunningApp,
    http: httpx.Client,
    clock: ManualClock,
    receiver: HttpReceiver,
) -> None:
    base = load_config()
    config = base.model_copy(
        update={
            "notifications": NotificationConfig.model_validate(
                {"channels": {"slack": {"type": "slack", "url": f"{receiver.url}/slack"}}}
            ),
            "policies": [
                p.model_copy(update={"escalation": [EscalationStep(after_seconds=0, notify=["slack"])]})
                for p in base.policies
            ],
        }
    )
    executor = make_executor(config)
    run = _flapping_run(executor, http, demo, clock)
    executor.tick()
    restarts = state(http, demo.base_url)["restarts"]
    print(f"\nflapping: {run}, service restarts: {restarts}")
    budget = load_config().guards.restart_budget
    assert budget is not None
    assert run["detections"] >= 20, "the fault must really flap for the test to mean anything"
    assert restarts == run["statuses"].get("succeeded", 0) + run["statuses"].get("not_validated", 0)
    assert 1 <= restarts <= budget.max, "the restart budget (3 per hour) holds"
    assert run["guards"].get("restart-budget", 0) >= 1
    assert run["guards"].get("cooldown", 0) >= 1
    assert verify_log(executor.audit.path).ok
    # Humans hear about it, but not once per refused detection: one message plus grouped digests.
    pages = len(receiver.received)
    print(f"slack messages: {pages} for {run['statuses'].get('rejected', 0)} refusals")
    assert 1 <= pages <= 4


def test_kill_switch_on_means_zero_actions(
    make_executor: ExecutorFactory, demo: RunningApp, http: httpx.Client, clock: ManualClock
) -> None:
    executor = make_executor()
    executor.kill_switch.engage("incident review", actor="test")
    inject(http, demo.base_url, "memory_leak", rate=50.0)
    inject(http, demo.base_url, "email_outage")
    clock.advance(30)
    triggers = [
        detection(clock, "overall", kind="metric_anomaly", series="overall/memory_usage", id="k1"),
        detection(clock, "email", id="k2"),
        detection(clock, "database", kind="metric_anomaly", series="database/db_pool_usage", id="k3"),
    ]
    records = executor.handle_many(triggers)
    assert records and all(r.status == "rejected" for r in records), records
    assert all("kill-switch" in r.detail for r in records)
    after = state(http, demo.base_url)
    assert after["restarts"] == 0 and after["email_role"] == "primary"
    audit = demo.app.state.admin.audit.records(0, 100)
    assert audit == [], "not one admin request reached the service"
    # The CLI switch and the file are the same switch.
    result = CliRunner().invoke(
        cli_app, ["heal", "kill-switch", "off", "--file", str(executor.kill_switch.path)]
    )
    assert result.exit_code == 0, result.output
    assert not executor.kill_switch.engaged()


def test_replayed_admin_request_is_rejected(demo: RunningApp, admin: httpx.Client) -> None:
    sent: list[httpx.Request] = []
    admin.event_hooks["request"] = [sent.append]
    first = admin.post("/api/admin/clear-cache", json={"reason": "test"})
    assert first.status_code == 200, first.text
    original = sent[-1]
    replay = httpx.post(
        demo.base_url + "/api/admin/clear-cache", content=original.content, headers=dict(original.headers)
    )
    assert replay.status_code == 409
    assert "replay" in replay.json()["detail"]
    unsigned = httpx.post(demo.base_url + "/api/admin/restart-service", json={})
    assert unsigned.status_code == 401


def test_same_detection_twice_runs_one_action_even_after_a_restart(
    make_executor: ExecutorFactory, demo: RunningApp, http: httpx.Client, clock: ManualClock, tmp_path: Path
) -> None:
    inject(http, demo.base_url, "db_pool_leak", rate=5.0)
    clock.advance(30)
    trigger = detection(
        clock, "database", kind="metric_anomaly", series="database/db_pool_usage", severity=Severity.WARNING
    )
    first = make_executor(state=tmp_path / "s").handle(trigger)
    assert [r.status for r in first] == ["succeeded"], first
    second = make_executor(state=tmp_path / "s").handle(trigger)  # a new process, same state dir
    assert [r.status for r in second] == ["duplicate"]
    audit = demo.app.state.admin.audit.records(0, 100)
    assert [r["action"] for r in audit] == ["reset-connections"]


def test_tampered_audit_log_fails_verify(
    make_executor: ExecutorFactory, demo: RunningApp, http: httpx.Client, clock: ManualClock
) -> None:
    executor = make_executor()
    inject(http, demo.base_url, "disk_fill", rate=5000.0)
    clock.advance(120)
    executor.handle(detection(clock, "overall", kind="metric_anomaly", series="overall/disk_usage"))
    path = executor.audit.path
    runner = CliRunner()
    assert runner.invoke(cli_app, ["audit", "verify", str(path)]).exit_code == 0
    text = path.read_text().replace('"outcome":"ran"', '"outcome":"skipped"', 1)
    assert text != path.read_text()
    path.write_text(text)
    result = runner.invoke(cli_app, ["audit", "verify", str(path)])
    assert result.exit_code == 1
    assert "edited" in result.output


def test_scale_then_undo_uses_the_service_undo_hint(
    demo: RunningApp, admin: httpx.Client, http: httpx.Client, clock: ManualClock
) -> None:
    from forewarn.healing.actions.admin import ScaleResources
    from forewarn.healing.actions.base import ActionContext

    action = ScaleResources()
    ctx = ActionContext(service="auth", clock=clock, idempotency_key="scale-1", admin=admin, reason="test")
    before = state(http, demo.base_url)["replicas"]
    outcome = action.run(action.parse({"replicas": before + 2}), ctx)
    assert state(http, demo.base_url)["replicas"] == before + 2
    action.undo(action.parse({}), ctx, outcome)
    assert state(http, demo.base_url)["replicas"] == before


def test_rotate_keys_switches_the_executor_to_the_new_key(
    demo: RunningApp, admin: httpx.Client, clock: ManualClock
) -> None:
    from forewarn.admin_signing import AdminAuth
    from forewarn.healing.actions.admin import RotateKeys
    from forewarn.healing.actions.base import ActionContext

    action = RotateKeys()
    ctx = ActionContext(service="overall", clock=clock, idempotency_key="rot-1", admin=admin)
    outcome = action.run(action.parse({}), ctx)
    assert outcome.data["client_switched"] is True
    assert isinstance(admin.auth, AdminAuth) and admin.auth.key_id == outcome.data["new_key_id"]
    assert "secret" not in str(outcome.as_dict()), "the new secret never reaches the audit trail"
    # Signed with the new key, the next call is accepted.
    assert admin.post("/api/admin/clear-cache", json={}).status_code == 200


def test_bad_deploy_incident_rolls_the_version_back(
    make_executor: ExecutorFactory, demo: RunningApp, http: httpx.Client, clock: ManualClock
) -> None:
    """An irreversible action is fine on an observed incident (not on a forecast alone)."""
    inject(http, demo.base_url, "bad_deploy")
    clock.advance(30)
    bad_version = state(http, demo.base_url)["version"]
    trigger = detection(clock, "payments", source="incident", issue_class="bad_deploy", incident_id="inc-7")
    records = make_executor().handle(trigger)
    assert [(r.action, r.status) for r in records] == [("rollback-deployment", "succeeded")], records
    assert state(http, demo.base_url)["version"] != bad_version
    assert health(http, demo.base_url, "payments")["status"] == "ok"
