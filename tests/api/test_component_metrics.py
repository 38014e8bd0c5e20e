"""The probe runner and the responder update the shared Prometheus families from what they handle.

Unit level: HTTP through ``httpx.MockTransport``, healing through a scripted executor; the families
are read back with ``registry.get_sample_value``. ``test_live_metrics.py`` checks the same families
over HTTP from the real ``forewarn probe`` and ``forewarn respond`` processes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from forewarn.collect.probe import ProbeRunner
from forewarn.dev.prometheus_config import scrape_config, write_scrape_config
from forewarn.events import Detection, ForecastFigures
from forewarn.healing.records import ActionDecision, Status
from forewarn.healing.triggers import Trigger
from forewarn.incidents.reporter import IncidentReporter
from forewarn.incidents.responder import Responder
from forewarn.incidents.responder_metrics import ResponderMetrics, guard_name
from forewarn.incidents.tracker import IncidentTracker
from forewarn.metrics import probe_metrics
from forewarn.settings import LLMSettings, ProbeSettings, TopicSettings
from tests.factories import forecast_figures, make_detection

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_probe_runner_observes_every_result() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/email"):
            return httpx.Response(503, json={"status": "down"})
        return httpx.Response(200, json={"status": "ok"})

    registry = CollectorRegistry()
    settings = ProbeSettings(base_url="http://svc.test", services=["auth", "email"], retries=0)

    async def two_rounds() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            runner = ProbeRunner(settings, client, metrics=probe_metrics(registry))
            await runner.run_round()
            await runner.run_round()

    asyncio.run(two_rounds())
    value = registry.get_sample_value
    assert value("forewarn_probe_up", {"service": "auth"}) == 1.0
    assert value("forewarn_probe_up", {"service": "email"}) == 0.0
    assert value("forewarn_probe_latency_seconds_count", {"service": "auth"}) == 2.0
    assert value("forewarn_probes_total", {"service": "auth", "status": "ok"}) == 2.0
    assert value("forewarn_probes_total", {"service": "email", "status": "down"}) == 2.0


def _detection(service: str, kind: str = "failure", forecast: ForecastFigures | None = None) -> Detection:
    return make_detection(service, T0, kind=kind, forecast=forecast)


class ScriptedExecutor:
    """Returns one record per scripted (status, detail) for every trigger.

    ``validated``: records of actions that ran past their step (all acted statuses but ``failed``)
    carry a validation verdict, as the real executor's do under a policy with a health check.
    """

    def __init__(self, outcomes: list[tuple[Status, str]], validated: bool = False) -> None:
        self.outcomes = outcomes
        self.validated = validated

    def handle(self, trigger: Trigger) -> list[ActionDecision]:
        judged = ("succeeded", "rolled_back", "not_validated") if self.validated else ()
        return [
            ActionDecision(
                trigger_id=trigger.id,
                group_id=trigger.group_id,
                service=trigger.service,
                issue_class="test",
                mode="auto",
                status=status,
                action="provider-failover",
                step=index,
                idempotency_key=f"{trigger.group_id}:provider-failover:{index}",
                detail=detail,
                validation={"ok": status == "succeeded"} if status in judged else None,
            )
            for index, (status, detail) in enumerate(self.outcomes)
        ]

    def tick(self) -> None:
        return None

    def resolve(self, group_id: str) -> None:
        return None


def _responder(
    outcomes: list[tuple[Status, str]], registry: CollectorRegistry, validated: bool = False
) -> Responder:
    published: list[tuple[str, str, bytes]] = []
    return Responder(
        TopicSettings(),
        executor=ScriptedExecutor(outcomes, validated),
        # The real reporter, offline (no LLM URL), on the same registry as in ``forewarn respond``.
        tracker=IncidentTracker(reporter=IncidentReporter.from_settings(LLMSettings(), registry=registry)),
        publish=lambda topic, key, value: published.append((topic, key, value)),
        clock=lambda: T0,
        metrics=ResponderMetrics(registry, clock=lambda: 1234.5),
    )


def test_action_records_move_the_right_healing_counters() -> None:
    registry = CollectorRegistry()
    responder = _responder(
        [
            ("succeeded", "validated"),
            ("rolled_back", "validation failed; undone"),
            ("rejected", "rate-limit: 3 actions in the last hour"),
            ("dry_run", "would have run"),
        ],
        registry,
    )
    responder.on_detection(_detection("email"))
    value = registry.get_sample_value
    labels = {"service": "email", "action": "provider-failover"}
    # Only the two records whose action really ran are attempts; dry-run and rejected are not.
    assert value("forewarn_heal_attempts_total", labels) == 2.0
    assert value("forewarn_heal_successes_total", labels) == 1.0
    assert value("forewarn_heal_rollbacks_total", labels) == 1.0
    assert value("forewarn_heal_guard_rejections_total", {"guard": "rate-limit"}) == 1.0
    # The reporter registered its families on the same registry without a name clash.
    assert value("forewarn_incident_reports_total", {"source": "offline"}) == 1.0

    # A re-delivered detection is not handled again, so nothing is counted twice.
    responder.on_detection(_detection("email"))
    assert value("forewarn_heal_attempts_total", labels) == 2.0


def test_validated_heals_are_evaluated_and_the_ones_that_did_not_heal_are_false() -> None:
    registry = CollectorRegistry()
    outcomes: list[tuple[Status, str]] = [
        ("succeeded", "validated"),
        ("rolled_back", "validation failed; undone"),
        ("not_validated", "validation failed; nothing to undo"),
        ("failed", "admin API said 500"),  # never reached validation: not judged
        ("dry_run", "would have run"),
    ]
    _responder(outcomes, registry, validated=True).on_detection(_detection("email"))
    assert registry.get_sample_value("forewarn_heals_evaluated_total") == 3.0
    assert registry.get_sample_value("forewarn_false_heals_total") == 2.0


def test_no_success_counted_for_a_failed_action() -> None:
    registry = CollectorRegistry()
    _responder([("failed", "admin API said 500")], registry).on_detection(_detection("sms"))
    labels = {"service": "sms", "action": "provider-failover"}
    assert registry.get_sample_value("forewarn_heal_attempts_total", labels) == 1.0
    assert registry.get_sample_value("forewarn_heal_successes_total", labels) in (None, 0.0)


def test_exhaustion_forecast_detection_records_its_predicted_lead_time_and_tick_beats() -> None:
    registry = CollectorRegistry()
    responder = _responder([], registry)
    responder.on_detection(_detection("database", "exhaustion_forecast", forecast_figures(420.0)))
    responder.on_detection(_detection("auth"))  # not a forecast: no lead time
    value = registry.get_sample_value
    assert value("forewarn_warning_lead_time_seconds_count", {"service": "database"}) == 1.0
    assert value("forewarn_warning_lead_time_seconds_sum", {"service": "database"}) == 420.0
    assert value("forewarn_warning_lead_time_seconds_count", {"service": "auth"}) is None
    assert value("forewarn_heartbeat_timestamp_seconds", {"component": "responder"}) is None
    responder.tick()
    assert value("forewarn_heartbeat_timestamp_seconds", {"component": "responder"}) == 1234.5


@pytest.mark.parametrize(
    ("detail", "guard"),
    [
        ("kill-switch: engaged (maintenance)", "kill-switch"),
        ("max-concurrent: 2 actions already running", "max-concurrent"),
        ("no guard prefix here", "unknown"),
        ("", "unknown"),
    ],
)
def test_guard_name_is_the_detail_prefix(detail: str, guard: str) -> None:
    assert guard_name(detail) == guard


def test_scrape_config_lists_one_job_per_metrics_url(tmp_path: Path) -> None:
    targets = {"probe": "http://127.0.0.1:9101/metrics", "app": "http://127.0.0.1:8080/metrics"}
    path = write_scrape_config(tmp_path / "prometheus.yml", targets)
    document = yaml.safe_load(path.read_text())
    assert document["global"]["scrape_interval"] == "5s"
    jobs = {job["job_name"]: job for job in document["scrape_configs"]}
    assert jobs["probe"]["static_configs"] == [{"targets": ["127.0.0.1:9101"]}]
    assert jobs["app"]["metrics_path"] == "/metrics"
    with pytest.raises(ValueError, match="not an http"):
        scrape_config({"bad": "127.0.0.1:9101"})


def test_tick_reads_the_real_executors_kill_switch_and_pending_approvals(tmp_path: Path) -> None:
    from forewarn.healing.executor import HealingExecutor
    from forewarn.settings import HealingSettings, Settings

    executor = HealingExecutor.from_settings(
        Settings(healing=HealingSettings(mode="approve", state_dir=tmp_path / "healing"))
    )
    registry = CollectorRegistry()
    metrics = ResponderMetrics(registry)
    try:
        metrics.beat(executor)
        assert registry.get_sample_value("forewarn_heal_kill_switch_engaged") == 0.0
        assert registry.get_sample_value("forewarn_heal_pending_actions") == 0.0
        executor.kill_switch.engage("test")
        metrics.beat(executor)
        assert registry.get_sample_value("forewarn_heal_kill_switch_engaged") == 1.0
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
