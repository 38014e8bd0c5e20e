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

from forewarn.broker import LocalKafka, find_free_port
from forewarn.kafka_io import ensure_topics
from forewarn.processes import ManagedProcess, ProcessGroup, sigterm_as_keyboard_interrupt
from forewarn.settings import Settings
from forewarn.topic_watch import Seen, TopicWatcher


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
        at_seconds=20.0,
        fault="email_outage",
        services=("email",),
        description="the primary email provider stops answering",
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


@dataclass
class DemoReport:
    """The machine-readable summary written by ``--report-json``."""

    started_at: str
    duration_seconds: float
    bootstrap: str | None = None
    app_url: str | None = None
    faults: list[FaultOutcome] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    probes_seen: int = 0
    probe_failures_seen: int = 0
    dead_letters_seen: int = 0
    components: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    error: str | None = None

    def ok(self) -> bool:
        return self.error is None and all(f.detected for f in self.faults)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ok": self.ok()}, indent=2, default=str)


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
            with self.console.status("stopping the stack"):
                group.stop_all()
                if kafka is not None:
                    kafka.stop()
        return self.report

    def _watched_topics(self) -> list[str]:
        topics = self.settings.topics
        return [topics.probes, topics.detections, topics.dead_letter]

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
        self._spawn(group, "dataflow", ["run", "--metrics-port", "0", "--from-beginning"], env)
        interval = str(self.settings.demo.probe_interval_seconds)
        self._spawn(group, "probe", ["probe", "--interval", interval], env)
        app_log = self.report.components["app_log"]
        self._spawn(group, "ship-logs", ["ship-logs", app_log, "--service", "musobuddy", "--service-field", "service", "--from-start"], env)
        self._note("dataflow, probe runner and log shipper started")

    # -- the scenario --------------------------------------------------------------------------
    def _play(self, group: ProcessGroup, watcher: TopicWatcher, base_url: str) -> None:
        started = self.clock()
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
        detections = watcher.snapshot(self.settings.topics.detections)
        for outcome in self.report.faults:
            if outcome.detected:
                continue
            for seen in detections:
                value = seen.value
                if value.get("service") in outcome.services and seen.seen_at >= outcome.injected_at_epoch:
                    outcome.detected = True
                    outcome.first_detection_id = str(value.get("id"))
                    outcome.first_detection_kind = str(value.get("detection_kind"))
                    outcome.detection_delay_seconds = round(seen.seen_at - outcome.injected_at_epoch, 2)
                    self._note(
                        f"[green]detected[/green] {outcome.fault} on {value.get('service')} "
                        f"({outcome.first_detection_kind}) after {outcome.detection_delay_seconds:.1f} s"
                    )
                    break

    def _summarise(self, watcher: TopicWatcher) -> None:
        topics = self.settings.topics
        probes = watcher.snapshot(topics.probes)
        self.report.probes_seen = len(probes)
        self.report.probe_failures_seen = sum(1 for p in probes if not p.value.get("ok", True))
        self.report.dead_letters_seen = watcher.count(topics.dead_letter)
        self.report.detections = [s.value for s in watcher.snapshot(topics.detections)]

    # -- the screen ----------------------------------------------------------------------------
    def _note(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self._events.append(f"{stamp}  {text}")

    def _screen(self, progress: Progress, watcher: TopicWatcher) -> Group:
        return Group(
            progress,
            self._probe_table(watcher.snapshot(self.settings.topics.probes)),
            self._detection_table(watcher.snapshot(self.settings.topics.detections)),
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


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)[:16]


def write_report(report: DemoReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json() + "\n")
