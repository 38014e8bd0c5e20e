"""Scoring a demo run: what happened to each injected fault, and the JSON summary.

Why apart from the stack and the screen: the summary is the demo's contract (``--report-json``, the
plot, the end-to-end test), so the rules that turn topic records into "detected after N s",
"predicted", "healed" and "reported" live in one place, fed only by the topic watcher's records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from forewarn.dev.demo.topic_watch import Seen, TopicWatcher
from forewarn.events import Detection
from forewarn.settings import ForecastSettings, Settings, TopicSettings


@dataclass(frozen=True)
class FaultStep:
    """Inject ``fault`` ``at_seconds`` after the stack is up; ``services`` are the ones it hurts."""

    at_seconds: float
    fault: str
    services: tuple[str, ...]
    description: str
    params: dict[str, Any] = field(default_factory=dict)


DEFAULT_SCENARIO: tuple[FaultStep, ...] = (
    FaultStep(
        at_seconds=15.0,
        fault="email_outage",
        services=("email",),
        description="the primary email provider stops answering",
    ),
    FaultStep(
        at_seconds=30.0,
        fault="db_pool_leak",
        services=("database",),
        description="database connections leak until the pool is exhausted",
        params={"rate": 0.5},
    ),
)


@dataclass
class FaultOutcome:
    """What happened to one injected fault (the JSON summary's ``faults`` entries)."""

    fault: str
    description: str
    services: list[str]
    injected_at: str
    injected_at_epoch: float
    detected: bool = False
    first_detection_id: str | None = None
    first_detection_kind: str | None = None
    detection_delay_seconds: float | None = None
    predicted: bool = False  # an exhaustion forecast warned before the service went down
    predicted_after_seconds: float | None = None
    predicted_time_to_exhaustion_seconds: float | None = None
    went_down: bool = False  # a probe of an affected service said "down" after injection
    healed: bool = False
    healing_action: str | None = None
    healing_status: str | None = None
    healed_after_seconds: float | None = None
    incident_id: str | None = None
    report_title: str | None = None
    report_source: str | None = None


@dataclass
class DemoReport:
    """The machine-readable summary written by ``--report-json``."""

    started_at: str
    duration_seconds: float
    bootstrap: str | None = None
    app_url: str | None = None
    faults: list[FaultOutcome] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    forecasts_seen: int = 0
    forecasts: list[dict[str, Any]] = field(default_factory=list)  # the last one per series
    incidents: list[dict[str, Any]] = field(default_factory=list)  # the latest state of each
    actions: list[dict[str, Any]] = field(default_factory=list)
    probes_seen: int = 0
    probe_failures_seen: int = 0
    # Gauges from probe details over time, for the plot: "service/gauge" -> [[epoch, value], ...]
    gauges: dict[str, list[list[float]]] = field(default_factory=dict)
    started_at_epoch: float = 0.0
    dead_letters_seen: int = 0
    components: dict[str, str] = field(default_factory=dict)
    api_forecasts: list[dict[str, Any]] = field(default_factory=list)  # GET /v1/forecasts at the end
    executive_report: str | None = None
    interrupted: bool = False
    error: str | None = None

    def ok(self) -> bool:
        return self.error is None and bool(self.faults) and all(f.detected for f in self.faults)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ok": self.ok()}, indent=2, default=str)


def match_detections(
    report: DemoReport, watcher: TopicWatcher, topics: TopicSettings, note: Callable[[str], None]
) -> None:
    """Follow each injected fault: detected? predicted? did it break? was it healed? reported?"""
    detections = watcher.snapshot(topics.detections)
    probes = watcher.snapshot(topics.probes)
    actions = watcher.snapshot(topics.actions)
    incidents = watcher.snapshot(topics.incidents)
    for outcome in report.faults:
        after = [s for s in detections if s.seen_at >= outcome.injected_at_epoch]
        mine = [s for s in after if s.value.get("service") in outcome.services]
        if not outcome.detected and mine:
            _detected(outcome, mine[0], note)
        if not outcome.went_down:
            outcome.went_down = any(
                p.seen_at >= outcome.injected_at_epoch
                and p.value.get("service") in outcome.services
                and p.value.get("status") == "down"
                for p in probes
            )
        if not outcome.predicted and not outcome.went_down:
            _predicted(outcome, mine, note)
        if not outcome.healed:
            _healed(outcome, actions, note)
        if outcome.incident_id is None:
            _reported(outcome, incidents, note)


def _detected(outcome: FaultOutcome, first: Seen, note: Callable[[str], None]) -> None:
    outcome.detected = True
    outcome.first_detection_id = str(first.value.get("id"))
    outcome.first_detection_kind = str(first.value.get("detection_kind"))
    outcome.detection_delay_seconds = round(first.seen_at - outcome.injected_at_epoch, 2)
    note(
        f"[green]detected[/green] {outcome.fault} on {first.value.get('service')} "
        f"({outcome.first_detection_kind}) after {outcome.detection_delay_seconds:.1f} s"
    )


def _predicted(outcome: FaultOutcome, mine: list[Seen], note: Callable[[str], None]) -> None:
    """An exhaustion forecast about an affected service, before any of them went down."""
    warning = next((d for d in mine if d.value.get("detection_kind") == "exhaustion_forecast"), None)
    if warning is None:
        return
    figures = Detection.model_validate(warning.value).forecast
    tte = figures.time_to_exhaustion_seconds if figures is not None else None
    outcome.predicted = True
    outcome.predicted_after_seconds = round(warning.seen_at - outcome.injected_at_epoch, 2)
    outcome.predicted_time_to_exhaustion_seconds = round(float(tte), 1) if tte else None
    note(f"[magenta]predicted[/magenta] {warning.value.get('reason')}")


def _healed(outcome: FaultOutcome, actions: list[Seen], note: Callable[[str], None]) -> None:
    """The first healing action on an affected service that succeeded (and was validated)."""
    done = next(
        (
            a
            for a in actions
            if a.seen_at >= outcome.injected_at_epoch
            and a.value.get("service") in outcome.services
            and a.value.get("status") == "succeeded"
        ),
        None,
    )
    if done is None:
        return
    outcome.healed = True
    outcome.healing_action = str(done.value.get("action"))
    outcome.healing_status = str(done.value.get("status"))
    outcome.healed_after_seconds = round(done.seen_at - outcome.injected_at_epoch, 2)
    note(
        f"[cyan]healed[/cyan] {outcome.fault}: {outcome.healing_action} on "
        f"{done.value.get('service')} succeeded and was validated "
        f"({outcome.healed_after_seconds:.0f} s after injection"
        f"{', before any outage' if not outcome.went_down else ''})"
    )


def _reported(outcome: FaultOutcome, incidents: list[Seen], note: Callable[[str], None]) -> None:
    """The first incident touching an affected service that carries its report."""
    incident = next(
        (
            i
            for i in incidents
            if i.seen_at >= outcome.injected_at_epoch
            and set(i.value.get("services") or []) & set(outcome.services)
            and i.value.get("report")
        ),
        None,
    )
    if incident is None:
        return
    body = incident.value["report"]
    outcome.incident_id = str(incident.value.get("id"))
    outcome.report_title = str(body.get("title"))
    outcome.report_source = str(body.get("source"))
    note(f"[yellow]incident[/yellow] {outcome.report_title} ({outcome.report_source} report)")


def summarise(report: DemoReport, watcher: TopicWatcher, settings: Settings) -> None:
    """The run's totals and latest states from what the watcher saw (the JSON summary's lists)."""
    topics = settings.topics
    probes = watcher.snapshot(topics.probes)
    report.probes_seen = len(probes)
    report.gauges = _gauges(probes, settings.forecast)
    report.probe_failures_seen = sum(1 for p in probes if not p.value.get("ok", True))
    report.dead_letters_seen = watcher.count(topics.dead_letter)
    report.detections = [s.value for s in watcher.snapshot(topics.detections)]
    forecasts = watcher.snapshot(topics.forecasts)
    report.forecasts_seen = len(forecasts)
    report.forecasts = list({str(f.value.get("series")): f.value for f in forecasts}.values())
    report.incidents = list(
        {str(i.value.get("id")): i.value for i in watcher.snapshot(topics.incidents)}.values()
    )
    report.actions = [a.value for a in watcher.snapshot(topics.actions)]


def _gauges(probes: list[Seen], settings: ForecastSettings) -> dict[str, list[list[float]]]:
    """Gauge readings per series as the dataflow forecasts them (same gauges, same owners), by wall time."""
    from pydantic import ValidationError

    from forewarn.events import ProbeResult
    from forewarn.pipeline.forecasting import gauge_observations

    series: dict[str, list[list[float]]] = {}
    for seen in probes:
        try:
            probe = ProbeResult.model_validate(seen.value)
        except ValidationError:
            continue
        for reading in gauge_observations(probe, settings):
            series.setdefault(reading.series, []).append([seen.seen_at, reading.value])
    return series


def write_report(report: DemoReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json() + "\n")


def record_injection(report: DemoReport, step: FaultStep, now: float) -> FaultOutcome:
    """A fault went in at ``now``: from here on its outcome is followed."""
    outcome = FaultOutcome(
        fault=step.fault,
        description=step.description,
        services=list(step.services),
        injected_at=datetime.fromtimestamp(now, UTC).isoformat(),
        injected_at_epoch=now,
    )
    report.faults.append(outcome)
    return outcome


def api_forecasts(api_url: str, read_key: str, note: Callable[[str], None]) -> list[dict[str, Any]]:
    """What a user of the REST API would see now: the latest forecast of every series."""
    try:
        response = httpx.get(
            f"{api_url}/v1/forecasts",
            params={"latest": "true"},
            headers={"X-API-Key": read_key},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        note(f"GET /v1/forecasts failed: {exc}")
        return []
    if response.status_code != 200:
        note(f"GET /v1/forecasts answered {response.status_code}: {response.text[:200]}")
        return []
    return list(response.json().get("items", []))


def executive_report(
    out: Path, store_url: str, audit_log: str | None, console: Console, note: Callable[[str], None]
) -> str | None:
    """The run's executive report (HTML with plots, compliance export of the audit log), or None."""
    argv = [sys.executable, "-m", "forewarn", "report", "--since", "2h", "--out", str(out)]
    argv += ["--store-url", store_url, "--no-pdf", "--no-png"]
    if audit_log and Path(audit_log).exists():
        argv += ["--audit-log", audit_log]
    with console.status("writing the executive report"):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode == 0 and (out / "report.html").exists():
        return str(out / "report.html")
    note(f"forewarn report failed ({done.returncode}): {(done.stderr or done.stdout)[-300:]}")
    return None
