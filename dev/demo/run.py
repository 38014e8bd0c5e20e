"""``forewarn demo``: the whole loop on one machine, from a fault to its detection (and beyond).

:class:`Demo` composes the three parts: the stack (``stack.py``: a real Kafka broker, the MusoBuddy
demo app, the dataflow, probes, log shipper, responder and API, stopped in reverse order whatever
happens: Ctrl-C, SIGTERM, a crash), the scoring (``scoring.py``: per injected fault, was it
detected, predicted, healed, reported; the ``--report-json`` summary) and the live screen
(``screen.py``). It plays the scenario's faults through the app's fault API while watching topics.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.live import Live

from forewarn.dev.demo import scoring
from forewarn.dev.demo.scoring import DEFAULT_SCENARIO, DemoReport, FaultStep
from forewarn.dev.demo.screen import Screen
from forewarn.dev.demo.stack import DEMO_API_READ_KEY, DemoError, Stack
from forewarn.dev.demo.topic_watch import TopicWatcher
from forewarn.dev.processes import sigterm_as_keyboard_interrupt
from forewarn.settings import Settings

__all__ = ["Demo"]


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
        self.screen = Screen(settings.topics, duration_seconds)
        self.stack = Stack(settings, self.workdir, self.console, self.screen.note, self.report.components)
        self._pending = list(self.scenario)

    def run(self) -> DemoReport:
        watcher: TopicWatcher | None = None
        try:
            with sigterm_as_keyboard_interrupt():
                self.report.bootstrap = self.stack.start_kafka()
                base_url = self.stack.start_app()
                self.report.app_url = base_url
                self.stack.start_pipeline(self.report.bootstrap, base_url)
                watcher = TopicWatcher(self.report.bootstrap, self._watched_topics())
                watcher.start()
                self._play(watcher, base_url)
        except KeyboardInterrupt:
            self.report.interrupted = True
            self.console.print("[yellow]interrupted: stopping everything[/yellow]")
        except DemoError as exc:
            self.report.error = str(exc)
            self.console.print(f"[red]demo failed:[/red] {exc}")
        finally:
            if watcher is not None:
                watcher.stop()
                scoring.summarise(self.report, watcher, self.settings)
                if self.stack.api_url:
                    self.report.api_forecasts = scoring.api_forecasts(
                        self.stack.api_url, DEMO_API_READ_KEY, self.screen.note
                    )
            with self.console.status("stopping the stack"):
                self.stack.stop()
            if watcher is not None and not self.report.interrupted:
                self.report.executive_report = scoring.executive_report(
                    self.workdir / "report",
                    self.stack.store_url,
                    self.report.components.get("audit_log"),
                    self.console,
                    self.screen.note,
                )
        return self.report

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

    def _play(self, watcher: TopicWatcher, base_url: str) -> None:
        """Inject each fault on time and follow the outcomes until the duration is over."""
        started = self.clock()
        self.report.started_at_epoch = started
        self.screen.advance(0.0)
        with Live(self.screen.render(watcher), console=self.console, refresh_per_second=4) as live:
            while (elapsed := self.clock() - started) < self.duration:
                while self._pending and self._pending[0].at_seconds <= elapsed:
                    step = self._pending.pop(0)
                    self.stack.inject(base_url, step.fault, step.params)
                    scoring.record_injection(self.report, step, self.clock())
                    self.screen.note(f"[red]fault injected:[/red] {step.fault} ({step.description})")
                self._match(watcher)
                self.stack.check_alive()
                self.screen.advance(elapsed)
                live.update(self.screen.render(watcher))
                time.sleep(0.25)
            self.screen.advance(self.duration)
            self._match(watcher)
            live.update(self.screen.render(watcher))

    def _match(self, watcher: TopicWatcher) -> None:
        scoring.match_detections(self.report, watcher, self.settings.topics, self.screen.note)
