"""``forewarn demo``: the whole loop on one machine, from a fault to its detection (and beyond).

What it starts, in order, and stops in reverse order whatever happens (Ctrl-C, SIGTERM, a crash):
a real Kafka broker (KRaft, loopback, temporary data dir), the MusoBuddy demo app, the dataflow
(``forewarn run``), the probe runner (``forewarn probe``) and the log shipper (``forewarn ship-logs``),
each as a child process with its own log file. Then it injects the scenario's faults through the
app's fault API and shows, live, the probes, the detections and how long each detection took.
``--report-json`` writes the same facts as a machine-readable summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.dev.broker import LocalKafka, find_free_port
from forewarn.dev.demo.topic_watch import Seen, TopicWatcher
from forewarn.dev.processes import ManagedProcess, ProcessGroup, sigterm_as_keyboard_interrupt
from forewarn.dev.prometheus_config import write_scrape_config
from forewarn.events import Detection
from forewarn.kafka.io import ensure_topics
from forewarn.settings import ForecastSettings, Settings


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


# The demo API's read key: local, throwaway, printed on screen; never use it for a real deployment.
DEMO_API_READ_KEY = "demo-read-key"


class DemoError(RuntimeError):
    """A part of the stack did not come up; the message says which and where its log is."""


class Demo:
    """One demo run: start the stack, play the scenario, watch, summarise, stop everything."""

    def __init__(
        self,
        settings: Settings,
        *,
        duration_seconds: float,
        scenario: tuple[FaultStep, ...] = DEFAULT_SCENARIO,
        workdir: Path | None = None,
        console: Console | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.duration = duration_seconds
        self.scenario = tuple(sorted(scenario, key=lambda s: s.at_seconds))
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="forewarn-demo-"))
        self.console = console or Console()
        self.clock = clock
        self.report = DemoReport(started_at=datetime.now(UTC).isoformat(), duration_seconds=duration_seconds)
        self._events: list[str] = []
        self.api_url: str | None = None
        self._pending = list(self.scenario)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> DemoReport:
        group = ProcessGroup()
        kafka: LocalKafka | None = None
        watcher: TopicWatcher | None = None
        try:
            with sigterm_as_keyboard_interrupt():
                kafka = self._start_kafka()
                base_url = self._start_app(group)
                self._start_pipeline(group, kafka.bootstrap, base_url)
                watcher = TopicWatcher(kafka.bootstrap, self._watched_topics())
                watcher.start()
                self._play(group, watcher, base_url)
        except KeyboardInterrupt:
            self.report.interrupted = True
            self.console.print("[yellow]interrupted: stopping everything[/yellow]")
        except DemoError as exc:
            self.report.error = str(exc)
            self.console.print(f"[red]demo failed:[/red] {exc}")
        finally:
            if watcher is not None:
                watcher.stop()
                self._summarise(watcher)
                self._ask_api()
            with self.console.status("stopping the stack"):
                group.stop_all()
                if kafka is not None:
                    kafka.stop()
            if watcher is not None and not self.report.interrupted:
                self._write_executive_report()
        return self.report

    def _ask_api(self) -> None:
        """What a user of the REST API would see now: the latest forecast of every series."""
        url = self.api_url
        if not url:
            return
        try:
            response = httpx.get(
                f"{url}/v1/forecasts",
                params={"latest": "true"},
                headers={"X-API-Key": DEMO_API_READ_KEY},
                timeout=10,
            )
            if response.status_code == 200:
                self.report.api_forecasts = list(response.json().get("items", []))
            else:
                self._note(f"GET /v1/forecasts answered {response.status_code}: {response.text[:200]}")
        except httpx.HTTPError as exc:
            self._note(f"GET /v1/forecasts failed: {exc}")

    def _write_executive_report(self) -> None:
        """The executive report of the run (HTML with plots, compliance export of the audit log)."""
        out = self.workdir / "report"
        argv = [sys.executable, "-m", "forewarn", "report", "--since", "2h", "--out", str(out)]
        argv += ["--store-url", self._store_url(), "--no-pdf", "--no-png"]
        audit = self.report.components.get("audit_log")
        if audit and Path(audit).exists():
            argv += ["--audit-log", audit]
        with self.console.status("writing the executive report"):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode == 0 and (out / "report.html").exists():
            self.report.executive_report = str(out / "report.html")
        else:
            self._note(f"forewarn report failed ({done.returncode}): {(done.stderr or done.stdout)[-300:]}")

    def _watched_topics(self) -> list[str]:
        topics = self.settings.topics
        return [
            topics.probes,
            topics.detections,
            topics.dead_letter,
            topics.forecasts,
            topics.incidents,
            topics.actions,
        ]

    # -- starting the stack --------------------------------------------------------------------
    def _start_kafka(self) -> LocalKafka:
        kafka = LocalKafka(
            self.workdir / "kafka",
            port=0,
            controller_port=0,
            version=self.settings.kafka.version,
            start_timeout=self.settings.kafka.start_timeout_seconds,
            die_with_parent=True,
        )
        with self.console.status("starting Kafka (first run downloads the jars from Maven Central)"):
            try:
                kafka.start()
            except Exception as exc:
                raise DemoError(f"Kafka did not start: {exc}") from exc
            ensure_topics(kafka.bootstrap, self.settings.topics.all())
        self.report.bootstrap = kafka.bootstrap
        self.report.components["kafka"] = str(kafka.log_path)
        self._note(f"Kafka broker up at {kafka.bootstrap}")
        return kafka

    def _child_env(self, bootstrap: str | None = None, base_url: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        if bootstrap:
            env["FOREWARN_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
        if base_url:
            env["FOREWARN_PROBE__BASE_URL"] = base_url
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self, group: ProcessGroup, name: str, args: list[str], env: dict[str, str]) -> ManagedProcess:
        log = self.workdir / f"{name}.log"
        process = group.start(ManagedProcess(name, [sys.executable, "-m", "forewarn", *args], log, env))
        self.report.components[name] = str(log)
        return process

    def _start_app(self, group: ProcessGroup) -> str:
        port = find_free_port()
        app_log = self.workdir / "musobuddy-app.jsonl"
        self.report.components["app_log"] = str(app_log)
        process = self._spawn(
            group,
            "demo-app",
            ["demo-app", "--host", "127.0.0.1", "--port", str(port), "--log-file", str(app_log)],
            self._child_env(),
        )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        with self.console.status(f"starting the MusoBuddy demo app on {base_url}"):
            while time.monotonic() < deadline:
                if not process.alive():
                    raise DemoError(f"the demo app exited; see {process.log_path}:\n{process.tail()}")
                try:
                    if httpx.get(f"{base_url}/api/health/overall", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise DemoError(f"the demo app did not answer within 30 s; see {process.log_path}")
        self.report.app_url = base_url
        self._note(f"MusoBuddy demo app up at {base_url}")
        return base_url

    def _start_pipeline(self, group: ProcessGroup, bootstrap: str, base_url: str) -> None:
        env = self._child_env(bootstrap, base_url)
        # Known metrics ports (not 0), so the run's prometheus.yml can list every /metrics endpoint.
        ports = {name: find_free_port() for name in ("dataflow", "probe", "respond")}
        self._spawn(
            group, "dataflow", ["run", "--metrics-port", str(ports["dataflow"]), "--from-beginning"], env
        )
        interval = str(self.settings.demo.probe_interval_seconds)
        probe_args = ["probe", "--interval", interval, "--metrics-port", str(ports["probe"])]
        self._spawn(group, "probe", probe_args, env)
        app_log = self.report.components["app_log"]
        self._spawn(
            group,
            "ship-logs",
            ["ship-logs", app_log, "--service", "musobuddy", "--service-field", "service", "--from-start"],
            env,
        )
        respond_args = ["respond", "--from-beginning", "--metrics-port", str(ports["respond"])]
        self._spawn(group, "respond", respond_args, self._responder_env(env, base_url))
        self.api_url = f"http://127.0.0.1:{find_free_port()}"
        api_env = {**env, "FOREWARN_API__READ_KEYS": json.dumps([DEMO_API_READ_KEY])}
        port = self.api_url.rsplit(":", 1)[1]
        self._spawn(group, "api", ["api", "--port", port, "--store-url", self._store_url()], api_env)
        self.report.components["api"] = self.api_url
        targets = {name: f"http://127.0.0.1:{number}/metrics" for name, number in ports.items()}
        targets |= {"api": f"{self.api_url}/metrics", "app": f"{base_url}/metrics"}
        config = write_scrape_config(self.workdir / "prometheus.yml", targets)
        self.report.components["prometheus_config"] = str(config)
        self._note(
            f"dataflow, probes, log shipper, responder (healing: auto) and API ({self.api_url}) started"
        )

    def _store_url(self) -> str:
        return f"sqlite:///{self.workdir / 'state.db'}"

    def _responder_env(self, env: dict[str, str], base_url: str) -> dict[str, str]:
        """Healing in auto mode against the demo app, with the demo's public admin key."""
        from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_SECRET

        healing = {
            "FOREWARN_HEALING__MODE": "auto",
            "FOREWARN_HEALING__ADMIN_BASE_URL": base_url,
            "FOREWARN_HEALING__ADMIN_KEY_ID": DEMO_ADMIN_KEY_ID,
            "FOREWARN_HEALING__ADMIN_SECRET": DEMO_ADMIN_SECRET,
            "FOREWARN_HEALING__STATE_DIR": str(self.workdir / "healing"),
        }
        self.report.components["audit_log"] = str(self.workdir / "healing" / "audit.jsonl")
        return {**env, **healing}

    # -- the scenario --------------------------------------------------------------------------
    def _play(self, group: ProcessGroup, watcher: TopicWatcher, base_url: str) -> None:
        started = self.clock()
        self.report.started_at_epoch = started
        progress = Progress(
            TextColumn("[bold]demo[/bold]"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeElapsedColumn(),
        )
        task = progress.add_task("demo", total=self.duration)
        with Live(self._screen(progress, watcher), console=self.console, refresh_per_second=4) as live:
            while (elapsed := self.clock() - started) < self.duration:
                while self._pending and self._pending[0].at_seconds <= elapsed:
                    self._inject(self._pending.pop(0), base_url)
                self._match_detections(watcher)
                for process in group:
                    if not process.alive():
                        raise DemoError(
                            f"{process.name} exited with code {process.exit_code()}; "
                            f"see {process.log_path}:\n{process.tail()}"
                        )
                progress.update(task, completed=min(elapsed, self.duration))
                live.update(self._screen(progress, watcher))
                time.sleep(0.25)
            progress.update(task, completed=self.duration)
            self._match_detections(watcher)
            live.update(self._screen(progress, watcher))

    def _inject(self, step: FaultStep, base_url: str) -> None:
        response = httpx.post(f"{base_url}/api/faults/{step.fault}", json=step.params, timeout=5)
        if response.status_code >= 400:
            raise DemoError(f"injecting {step.fault} failed: {response.status_code} {response.text}")
        now = self.clock()
        self.report.faults.append(
            FaultOutcome(
                fault=step.fault,
                description=step.description,
                services=list(step.services),
                injected_at=datetime.fromtimestamp(now, UTC).isoformat(),
                injected_at_epoch=now,
            )
        )
        self._note(f"[red]fault injected:[/red] {step.fault} ({step.description})")

    def _match_detections(self, watcher: TopicWatcher) -> None:
        """Follow each injected fault: detected? predicted? did it break? was it healed?"""
        topics = self.settings.topics
        detections = watcher.snapshot(topics.detections)
        probes = watcher.snapshot(topics.probes)
        actions = watcher.snapshot(topics.actions)
        incidents = watcher.snapshot(topics.incidents)
        for outcome in self.report.faults:
            after = [s for s in detections if s.seen_at >= outcome.injected_at_epoch]
            mine = [s for s in after if s.value.get("service") in outcome.services]
            if not outcome.detected and mine:
                first = mine[0]
                outcome.detected = True
                outcome.first_detection_id = str(first.value.get("id"))
                outcome.first_detection_kind = str(first.value.get("detection_kind"))
                outcome.detection_delay_seconds = round(first.seen_at - outcome.injected_at_epoch, 2)
                self._note(
                    f"[green]detected[/green] {outcome.fault} on {first.value.get('service')} "
                    f"({outcome.first_detection_kind}) after {outcome.detection_delay_seconds:.1f} s"
                )
            if not outcome.went_down:
                outcome.went_down = any(
                    p.seen_at >= outcome.injected_at_epoch
                    and p.value.get("service") in outcome.services
                    and p.value.get("status") == "down"
                    for p in probes
                )
            if not outcome.predicted and not outcome.went_down:
                warning = next(
                    (d for d in mine if d.value.get("detection_kind") == "exhaustion_forecast"), None
                )
                if warning is not None:
                    figures = Detection.model_validate(warning.value).forecast
                    tte = figures.time_to_exhaustion_seconds if figures is not None else None
                    outcome.predicted = True
                    outcome.predicted_after_seconds = round(warning.seen_at - outcome.injected_at_epoch, 2)
                    outcome.predicted_time_to_exhaustion_seconds = round(float(tte), 1) if tte else None
                    self._note(f"[magenta]predicted[/magenta] {warning.value.get('reason')}")
            if not outcome.healed:
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
                if done is not None:
                    outcome.healed = True
                    outcome.healing_action = str(done.value.get("action"))
                    outcome.healing_status = str(done.value.get("status"))
                    outcome.healed_after_seconds = round(done.seen_at - outcome.injected_at_epoch, 2)
                    self._note(
                        f"[cyan]healed[/cyan] {outcome.fault}: {outcome.healing_action} on "
                        f"{done.value.get('service')} succeeded and was validated "
                        f"({outcome.healed_after_seconds:.0f} s after injection"
                        f"{', before any outage' if not outcome.went_down else ''})"
                    )
            if outcome.incident_id is None:
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
                if incident is not None:
                    report = incident.value["report"]
                    outcome.incident_id = str(incident.value.get("id"))
                    outcome.report_title = str(report.get("title"))
                    outcome.report_source = str(report.get("source"))
                    self._note(
                        f"[yellow]incident[/yellow] {outcome.report_title} ({outcome.report_source} report)"
                    )

    def _summarise(self, watcher: TopicWatcher) -> None:
        topics = self.settings.topics
        probes = watcher.snapshot(topics.probes)
        self.report.probes_seen = len(probes)
        self.report.gauges = _gauges(probes, self.settings.forecast)
        self.report.probe_failures_seen = sum(1 for p in probes if not p.value.get("ok", True))
        self.report.dead_letters_seen = watcher.count(topics.dead_letter)
        self.report.detections = [s.value for s in watcher.snapshot(topics.detections)]
        forecasts = watcher.snapshot(topics.forecasts)
        self.report.forecasts_seen = len(forecasts)
        self.report.forecasts = list({str(f.value.get("series")): f.value for f in forecasts}.values())
        self.report.incidents = list(
            {str(i.value.get("id")): i.value for i in watcher.snapshot(topics.incidents)}.values()
        )
        self.report.actions = [a.value for a in watcher.snapshot(topics.actions)]

    # -- the screen ----------------------------------------------------------------------------
    def _note(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self._events.append(f"{stamp}  {text}")

    def _screen(self, progress: Progress, watcher: TopicWatcher) -> Group:
        return Group(
            progress,
            self._probe_table(watcher.snapshot(self.settings.topics.probes)),
            self._detection_table(watcher.snapshot(self.settings.topics.detections)),
            self._forecast_table(watcher.snapshot(self.settings.topics.forecasts)),
            self._response_table(
                watcher.snapshot(self.settings.topics.incidents),
                watcher.snapshot(self.settings.topics.actions),
            ),
            Panel("\n".join(self._events[-10:]) or "starting", title="what happened", border_style="blue"),
        )

    @staticmethod
    def _probe_table(probes: list[Seen]) -> Table:
        latest: dict[str, dict[str, Any]] = {}
        counts: dict[str, int] = {}
        for seen in probes:
            service = str(seen.value.get("service"))
            latest[service] = seen.value
            counts[service] = counts.get(service, 0) + 1
        table = Table(title="probes (latest per service)", expand=True)
        for column in ("service", "status", "latency ms", "http", "probes", "details"):
            table.add_column(column)
        for service in sorted(latest):
            value = latest[service]
            ok = bool(value.get("ok"))
            status = str(value.get("status") or ("ok" if ok else "down"))
            colour = {"ok": "green", "degraded": "yellow"}.get(status, "red")
            details = value.get("details") or {}
            shown = ", ".join(f"{k}={_short(v)}" for k, v in list(details.items())[:3])
            table.add_row(
                service,
                f"[{colour}]{status}[/{colour}]",
                f"{float(value.get('latency_ms', 0.0)):.1f}",
                str(value.get("status_code") or "-"),
                str(counts[service]),
                shown,
            )
        return table

    @staticmethod
    def _detection_table(detections: list[Seen]) -> Table:
        table = Table(title=f"detections ({len(detections)})", expand=True)
        for column in ("time", "service", "kind", "score", "severity", "reason"):
            table.add_column(column)
        for seen in detections[-6:]:
            value = seen.value
            table.add_row(
                datetime.fromtimestamp(seen.seen_at, UTC).strftime("%H:%M:%S"),
                str(value.get("service")),
                str(value.get("detection_kind")),
                f"{float(value.get('score', 0.0)):.2f}",
                str(value.get("severity")),
                str(value.get("reason"))[:80],
            )
        return table

    @staticmethod
    def _forecast_table(forecasts: list[Seen]) -> Table:
        latest = {str(f.value.get("series")): f.value for f in forecasts}
        table = Table(title=f"forecasts ({len(forecasts)})", expand=True)
        for column in ("series", "now", "threshold", "P(breach)", "time to exhaustion", "confidence"):
            table.add_column(column)
        for series in sorted(latest):
            value = latest[series]
            tte = value.get("time_to_exhaustion_seconds")
            low, high = value.get("time_to_exhaustion_lower"), value.get("time_to_exhaustion_upper")
            shown = (
                "-"
                if tte is None
                else f"{tte:.0f} s" + (f" ({low:.0f} to {high:.0f})" if low and high else "")
            )
            probability = float(value.get("breach_probability") or 0.0)
            colour = "red" if probability >= 0.5 else "green"
            table.add_row(
                series,
                f"{float(value.get('current_value', 0.0)):.3g}",
                str(value.get("threshold")),
                f"[{colour}]{probability:.2f}[/{colour}]",
                shown,
                f"{float(value.get('confidence', 0.0)):.2f}",
            )
        return table

    @staticmethod
    def _response_table(incidents: list[Seen], actions: list[Seen]) -> Table:
        table = Table(title="incidents and healing", expand=True)
        for column in ("what", "service", "status", "detail"):
            table.add_column(column)
        latest = {str(i.value.get("id")): i.value for i in incidents}
        for value in list(latest.values())[-3:]:
            report = value.get("report") or {}
            table.add_row(
                "incident",
                str(value.get("service")),
                f"{value.get('status')} / {value.get('severity')}",
                f"{report.get('title', '')} [{report.get('source', '-')}]",
            )
        quiet = {"no_policy", "duplicate", "skipped"}
        for seen in [a for a in actions if a.value.get("status") not in quiet][-5:]:
            value = seen.value
            status = str(value.get("status"))
            colour = {"succeeded": "green", "rejected": "yellow", "failed": "red"}.get(status, "white")
            table.add_row(
                f"action {value.get('action') or ''}".strip(),
                str(value.get("service")),
                f"[{colour}]{status}[/{colour}]",
                str(value.get("detail"))[:90],
            )
        return table


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


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)[:16]


def write_report(report: DemoReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json() + "\n")


def print_summary(console: Console, report: DemoReport) -> None:
    """The end-of-run story: per fault, was it detected, predicted, healed; and the incident report."""
    console.print()  # the live screen's last frame ends without a newline
    for fault in report.faults:
        mark = "[green]✔[/green]" if fault.detected else "[red]✘[/red]"
        parts = [f"{mark} {fault.fault}:"]
        if fault.detected:
            parts.append(
                f"detected ({fault.first_detection_kind}) "
                f"{fault.detection_delay_seconds:.1f} s after injection;"
            )
        else:
            parts.append("not detected;")
        if fault.predicted:
            tte = fault.predicted_time_to_exhaustion_seconds
            ahead = f", forecast breach in {tte:.0f} s" if tte is not None else ""
            parts.append(
                f"exhaustion predicted {fault.predicted_after_seconds:.0f} s after injection{ahead};"
            )
        if fault.healed:
            parts.append(
                f"healed by {fault.healing_action} ({fault.healed_after_seconds:.0f} s after injection);"
            )
        parts.append("the service went down" if fault.went_down else "the service never went down")
        console.print(" ".join(parts))
    for forecast in report.api_forecasts:
        tte = forecast.get("time_to_exhaustion_seconds")
        probability = float(forecast.get("breach_probability") or 0.0)
        console.print(
            f"API /v1/forecasts: {forecast.get('service')}/{forecast.get('metric')} now "
            f"{float(forecast.get('point') or 0.0):.2f} "
            f"in {float(forecast.get('horizon_seconds') or 0):.0f} s, "
            f"P(breach)={probability:.2f}, time to exhaustion "
            + ("none at the current trend" if tte is None or tte > 86_400 else f"{float(tte):.0f} s")
        )
    if report.executive_report:
        console.print(f"executive report: {report.executive_report}")
    for incident in report.incidents:
        body = incident.get("report")
        if not body:
            continue
        lines = [
            f"[bold]{body.get('title')}[/bold]",
            f"source: {body.get('source')} report, confidence {body.get('confidence')}",
            f"impact: {body.get('impact')}",
            f"probable cause: {body.get('probable_cause')}",
            "evidence: " + "; ".join(f"{e.get('kind')} {e.get('ref')}" for e in body.get("evidence", [])[:4]),
            "runbook: " + " | ".join(body.get("runbook", [])[:4]),
        ]
        console.print(
            Panel("\n".join(lines), title=f"incident {incident.get('id')} on {incident.get('service')}")
        )
