"""``forewarn chaos``: every scenario on the real stack, once with healing in auto mode, once with it off.

Why one stack per seed: the broker, the dataflow and its models are started once and kept, like a
long-running deployment; between runs the demo app is reset (faults cleared, damage undone) and
each run gets a fresh responder (its own consumer group, state dir and healing mode), so no cooldown,
dedup or queued record of one run can act in the next. A real Prometheus scrapes the app all along
for the ``predict_linear`` baseline.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from forewarn.dev.chaos import baselines
from forewarn.dev.chaos.catalogue import DAY_SECONDS, Scenario
from forewarn.dev.chaos.measure import Run, breach_after, escalated
from forewarn.dev.demo import scoring
from forewarn.dev.demo.scoring import DemoReport
from forewarn.dev.demo.stack import DemoError, Stack
from forewarn.dev.demo.topic_watch import TopicWatcher
from forewarn.dev.processes import ManagedProcess
from forewarn.settings import Settings

LEAD_IN_SECONDS = 2.0  # the responder is up and the app reset; a short look at the quiet service first
WARM_UP_SECONDS = 25.0  # the dataflow learns the quiet service before the first fault
# After a reset and before the next responder starts: no detection for this long, so the last run's
# echoes (detections of its damage still in flight) are behind the new responder's starting offset.
QUIET_SECONDS = 5.0
QUIET_MAX_SECONDS = 30.0
HEALED_HOLD_SECONDS = 8.0  # after the last heal, watch this long that it holds before ending early
BREACH_HOLD_SECONDS = 15.0  # healing off: after the breach, long enough for a `for: 10s` rule to fire
MODES = ("auto", "off")
READY_LINE = "responder reading"  # logged once its consumer exists; the first poll pins "latest"


@dataclass
class Session:
    """What one seed's stack produced: every run, and the baselines' alerts per (scenario, mode)."""

    seed: int
    runs: list[Run] = field(default_factory=list)
    predict_linear: dict[str, list[baselines.Alert]] = field(default_factory=dict)
    predict_linear_error: str | None = None
    workdir: str = ""


class ChaosRunner:
    """Runs ``scenarios`` for each seed and returns one :class:`Session` per seed."""

    def __init__(
        self,
        settings: Settings,
        scenarios: tuple[Scenario, ...],
        *,
        seeds: int = 1,
        workdir: Path | None = None,
        console: Console | None = None,
        warm_up_seconds: float = WARM_UP_SECONDS,
    ) -> None:
        self.settings = settings
        self.warm_up_seconds = warm_up_seconds
        self.scenarios = scenarios
        self.seeds = seeds
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="forewarn-chaos-"))
        self.console = console or Console()

    def run(self) -> list[Session]:
        sessions: list[Session] = []
        total = self.seeds * len(self.scenarios) * len(MODES)
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
        with Progress(*columns, TimeElapsedColumn(), console=self.console) as progress:
            task = progress.add_task("starting", total=total)
            for seed in range(self.seeds):
                session = Session(seed=seed, workdir=str(self.workdir / f"seed-{seed}"))
                _SeedRun(
                    self,
                    session,
                    lambda text: progress.update(task, description=text),
                    lambda: progress.advance(task),
                ).run()
                sessions.append(session)
        return sessions


class _SeedRun:
    """One seed: start the stack, warm up, play every scenario in both modes, stop everything."""

    def __init__(
        self, owner: ChaosRunner, session: Session, say: Callable[[str], None], done: Callable[[], None]
    ) -> None:
        self.owner = owner
        self.session = session
        self.say = say
        self.done = done
        self.workdir = Path(session.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.notes: list[str] = []
        self.stack = Stack(owner.settings, self.workdir, owner.console, self.notes.append, {})
        self.bootstrap = ""
        self.base_url = ""

    def run(self) -> None:
        watcher: TopicWatcher | None = None
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(self.stack.stop)
            self.say(f"seed {self.session.seed}: starting Kafka, the app and the dataflow")
            self.bootstrap = self.stack.start_kafka()
            app_env = {
                "MUSOBUDDY_SEED": str(self.session.seed),
                "MUSOBUDDY_LOAD_CYCLE_SECONDS": str(DAY_SECONDS),
            }
            self.base_url = self.stack.start_app(app_env)
            self.stack.start_pipeline(self.bootstrap, self.base_url, responder=False)
            topics = self.owner.settings.topics
            watcher = TopicWatcher(
                self.bootstrap,
                [topics.probes, topics.detections, topics.forecasts, topics.incidents, topics.actions],
            )
            watcher.start()
            cleanup.callback(watcher.stop)
            prometheus = cleanup.enter_context(self._prometheus())
            warm_up = self.owner.warm_up_seconds
            self.say(f"seed {self.session.seed}: warming up the models ({warm_up:.0f} s)")
            self._wait(warm_up)
            for scenario in self.owner.scenarios:
                for mode in MODES:
                    run = self._play(scenario, mode, watcher)
                    self.session.runs.append(run)
                    if mode == "off" and prometheus is not None:
                        self._predict_linear(prometheus, run)
                    self.done()

    @contextlib.contextmanager
    def _prometheus(self) -> Iterator[Any]:
        from forewarn.dev.prometheus_server import PrometheusServer, ensure_installed

        try:
            server = PrometheusServer(
                ensure_installed(),
                self._dir("prometheus"),
                [self.base_url.removeprefix("http://")],
                job="musobuddy",
            )
            server.start()
        except Exception as exc:  # the suite still scores everything else; the JSON says why
            self.session.predict_linear_error = f"prometheus unavailable: {exc}"
            yield None
            return
        try:
            yield server
        finally:
            server.stop()

    def _predict_linear(self, prometheus: Any, run: Run) -> None:
        try:
            self.session.predict_linear[run.scenario.name] = baselines.predict_linear_alerts(prometheus, run)
        except Exception as exc:  # one bad answer must not lose the other scores
            self.session.predict_linear_error = f"{run.scenario.name}: {exc}"

    def _play(self, scenario: Scenario, mode: str, watcher: TopicWatcher) -> Run:
        label = f"seed {self.session.seed}: {scenario.name} (healing {mode})"
        self.say(f"{label}: resetting the app, waiting for quiet")
        self._reset()
        self._wait_for_quiet(watcher)
        self.say(f"{label}: starting a responder")
        responder = self.stack.start_responder(
            self.bootstrap,
            self.base_url,
            f"respond-{scenario.name}-{mode}",
            mode,
            self._dir(f"healing/{scenario.name}-{mode}"),
        )
        try:
            self._wait_for_responder(responder)
            return self._observe(scenario, mode, watcher, label)
        finally:
            self.stack.stop_process(responder)
            self._reset()

    def _observe(self, scenario: Scenario, mode: str, watcher: TopicWatcher, label: str) -> Run:
        started = time.time()
        pending = sorted(scenario.faults, key=lambda f: f.step.at_seconds)
        injected_at = started + LEAD_IN_SECONDS
        report = DemoReport(
            started_at=datetime.now(UTC).isoformat(), duration_seconds=scenario.window_seconds
        )
        error: str | None = None
        while (now := time.time()) < injected_at + scenario.window_seconds:
            while pending and now >= injected_at + pending[0].step.at_seconds:
                truth = pending.pop(0)
                self.stack.inject(self.base_url, truth.step.fault, truth.step.params)
                scoring.record_injection(report, truth.step, time.time())
            try:
                self.stack.check_alive()
            except DemoError as exc:
                error = str(exc)
                break
            if now >= injected_at and not pending:
                run = self._collect(scenario, mode, report, watcher, injected_at, now)
                if _can_stop(run):
                    break
            self.say(f"{label}: {now - injected_at:.0f}/{scenario.window_seconds:.0f} s")
            time.sleep(0.5)
        run = self._collect(scenario, mode, report, watcher, injected_at, time.time())
        run.error = error
        return run

    def _collect(
        self,
        scenario: Scenario,
        mode: str,
        report: DemoReport,
        watcher: TopicWatcher,
        start: float,
        end: float,
    ) -> Run:
        """The run so far, from the records seen since injection."""
        view = watcher.window(start, end)
        topics = self.owner.settings.topics
        fresh = DemoReport(report.started_at, report.duration_seconds, started_at_epoch=start)
        fresh.faults = [
            scoring.FaultOutcome(
                fault=o.fault,
                description=o.description,
                services=o.services,
                injected_at=o.injected_at,
                injected_at_epoch=o.injected_at_epoch,
            )
            for o in report.faults
        ]
        scoring.match_detections(fresh, view, topics, lambda _: None)
        scoring.summarise(fresh, view, self.owner.settings)
        probes = [{**s.value, "seen_at": s.seen_at} for s in view.snapshot(topics.probes)]
        forecasts = [{**s.value, "seen_at": s.seen_at} for s in view.snapshot(topics.forecasts)]
        actions = [{**s.value, "seen_at": s.seen_at} for s in view.snapshot(topics.actions)]
        return Run(scenario, mode, self.session.seed, start, end, fresh, probes, forecasts, actions)

    def _reset(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.delete(f"{self.base_url}/api/faults", params={"reset_state": "true"}, timeout=5)

    def _wait_for_responder(self, responder: ManagedProcess, timeout: float = 60.0) -> None:
        """Until the responder has its consumer (assigned partitions, at the topics' end from here on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not responder.alive():
                raise DemoError(f"the responder exited; see {responder.log_path}:\n{responder.tail()}")
            if responder.log_path.exists() and READY_LINE in responder.log_path.read_text(errors="replace"):
                return
            time.sleep(0.3)
        raise DemoError(f"the responder was not reading within {timeout:.0f} s; see {responder.log_path}")

    def _wait_for_quiet(self, watcher: TopicWatcher) -> None:
        """Until no detection was seen for ``QUIET_SECONDS`` (at most ``QUIET_MAX_SECONDS``)."""
        topic = self.owner.settings.topics.detections
        deadline = time.monotonic() + QUIET_MAX_SECONDS
        self._wait(QUIET_SECONDS)
        while time.monotonic() < deadline:
            seen = watcher.snapshot(topic)
            if not seen or time.time() - seen[-1].seen_at >= QUIET_SECONDS:
                return
            self._wait(0.5)

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.stack.check_alive()
            time.sleep(0.5)

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def _can_stop(run: Run) -> bool:
    """End a run early once nothing more can change its score (controls always run their window)."""
    if run.scenario.control or run.seconds < 12:
        return False
    faults = list(zip(run.scenario.faults, run.report.faults, strict=True))
    if not all(o.detected for _, o in faults):
        return False
    if run.mode == "off":
        breach = breach_after(run)
        return breach is not None and run.seconds - breach >= BREACH_HOLD_SECONDS
    for truth, outcome in faults:
        if truth.escalate:
            if not escalated(run, list(truth.step.services)):
                return False  # a human is called only once a detection is severe enough: wait for it
            continue
        if not outcome.healed or outcome.healed_after_seconds is None:
            return False
        if run.seconds - outcome.healed_after_seconds < HEALED_HOLD_SECONDS:
            return False
    return run.seconds >= 20
