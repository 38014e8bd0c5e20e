"""The functions and the stateful logic the dataflow's operators call.

Why a class of steps: each operator needs the same injected pieces (ingest limits, clock, metrics,
detection engine); binding them once here keeps ``dataflow.py`` a readable top-to-bottom wiring
diagram, and every step is callable in a unit test without running Bytewax.

Why lists: the flow moves one micro-batch (one poll of the source) per item, and groups it per
series before the stateful step, so Bytewax's per-item cost is paid per poll and per series, not
per message. Each series' observations keep their order inside a group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from bytewax.operators import StatefulLogic

from forewarn.events import DeadLetter, Detection, TelemetryEvent
from forewarn.ingest import RawMessage, parse_message
from forewarn.pipeline.cardinality import SeriesBudget
from forewarn.pipeline.detection import DetectionEngine, SeriesSnapshot, SeriesState
from forewarn.pipeline.forecasting import GaugeObservation
from forewarn.pipeline.messages import OutMessage, SourceItem, dead_letter_message, to_raw
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.observations import Observation, observations_from
from forewarn.settings import IngestSettings, PipelineSettings

log = logging.getLogger(__name__)
# The default of the pipeline.series_idle_seconds setting, for logic built without settings (tests).
DEFAULT_SERIES_IDLE = PipelineSettings().series_idle
T = TypeVar("T")

__all__ = ["DEFAULT_SERIES_IDLE", "FlowSteps", "Parsed", "SeriesLogic", "dead_letter_messages", "group_by"]


@dataclass(slots=True)
class Parsed:
    """One micro-batch after parsing: the valid events in input order, and the dead letters."""

    events: list[TelemetryEvent] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)


def group_by(items: Iterable[T], key: Callable[[T], str]) -> list[tuple[str, list[T]]]:
    """``(key, items)`` pairs, each key once, items in their input order (what a keyed step needs)."""
    groups: dict[str, list[T]] = {}
    for item in items:
        k = key(item)
        group = groups.get(k)
        if group is None:
            groups[k] = [item]
        else:
            group.append(item)
    return list(groups.items())


class SeriesLogic(StatefulLogic[list[Observation], Detection, SeriesSnapshot | None]):
    """Bytewax's per-key logic: one instance per series, state built on its first observation.

    A series silent for ``idle`` (wall clock; setting ``pipeline.series_idle_seconds``) is dropped, so
    memory stays bounded even if producers invent new metric names forever; if it comes back it starts
    over with a fresh warm-up.
    """

    def __init__(
        self,
        engine: DetectionEngine,
        metrics: PipelineMetrics,
        resume: SeriesSnapshot | None,
        idle: timedelta | None = DEFAULT_SERIES_IDLE,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._idle = idle
        self._state = SeriesState.restore(resume) if resume is not None else None
        self._last_seen = engine.clock()
        if self._state is not None:
            metrics.active_series.inc()

    def on_item(self, value: list[Observation]) -> tuple[list[Detection], bool]:
        """The series' observations of one micro-batch, in order."""
        self._last_seen = self._engine.clock()
        out: list[Detection] = []
        engine = self._engine
        for observation in value:
            if self._state is None:
                self._state = engine.new_state(observation)
                self._metrics.active_series.inc()
            if engine.is_late(self._state, observation):
                self._metrics.observe_late(observation.signal)
                continue
            self._state, detections = engine.step(self._state, observation)
            for detection in detections:
                self._metrics.observe_detection(detection)
                log.info("detection %s %s: %s", detection.severity.value, detection.series, detection.reason)
                out.append(detection)
        return out, StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        return None if self._idle is None else self._last_seen + self._idle

    def on_notify(self) -> tuple[list[Detection], bool]:
        if self._idle is not None and self._engine.clock() - self._last_seen >= self._idle:
            if self._state is not None:
                self._metrics.active_series.dec()
            return [], StatefulLogic.DISCARD
        return [], StatefulLogic.RETAIN

    def snapshot(self) -> SeriesSnapshot | None:
        return self._state.snapshot() if self._state is not None else None


class FlowSteps:
    """The injected pieces, bound once; each method is one operator's function."""

    def __init__(
        self,
        limits: IngestSettings,
        engine: DetectionEngine,
        metrics: PipelineMetrics,
        clock: Callable[[], datetime],
        series_idle: timedelta | None = DEFAULT_SERIES_IDLE,
        max_series: int | None = None,
    ) -> None:
        self.limits = limits
        self.engine = engine
        self.metrics = metrics
        self.clock = clock
        self.series_idle = series_idle
        idle = series_idle.total_seconds() if series_idle is not None else None
        self.budget = SeriesBudget(max_series, idle, lambda _series: metrics.series_dropped.inc())

    def raw(self, item: SourceItem | bytes) -> RawMessage | None:
        message = to_raw(item)
        if message is None:
            self.metrics.source_errors.inc()
            log.warning("Kafka consumer error (the dataflow keeps running): %r", item)
        return message

    def parse(self, message: RawMessage) -> TelemetryEvent | DeadLetter:
        result = parse_message(message, self.limits, self.clock())
        if isinstance(result, DeadLetter):
            self.metrics.observe_dead_letter(result)
        else:
            self.metrics.observe_event(message.topic, result)
        return result

    def parse_batch(self, batch: list[SourceItem | bytes]) -> Parsed:
        """Parse one micro-batch; a consumer error is counted and skipped, bad input is a dead letter.

        One clock reading for the batch: its messages arrived in one poll.
        """
        now = self.clock()
        parsed = Parsed()
        events, letters = parsed.events, parsed.letters
        topics: list[str | None] = []
        unkeyed: dict[str, int] = {}
        for item in batch:
            message = self.raw(item)
            if message is None:
                continue
            result = parse_message(message, self.limits, now)
            if isinstance(result, DeadLetter):
                self.metrics.observe_dead_letter(result)
                letters.append(result)
            else:
                events.append(result)
                topics.append(message.topic)
                if message.key != result.key().encode():
                    topic = message.topic or "unknown"
                    unkeyed[topic] = unkeyed.get(topic, 0) + 1
        self.metrics.observe_events(topics, events)
        for topic, count in unkeyed.items():
            self.metrics.unkeyed_events.labels(topic=topic).inc(count)
        return parsed

    def admit(self, item: Observation | GaugeObservation) -> bool:
        """Within pipeline.max_series (detector and gauge series share the one budget)."""
        return self.budget.admit(item.series, item.timestamp.timestamp())

    def observations(self, parsed: Parsed) -> list[tuple[str, list[Observation]]]:
        """The batch's observations within the series budget, grouped by series (in order)."""
        admit = self.budget.admit
        admitted = (
            observation
            for event in parsed.events
            for observation in observations_from(event)
            if admit(observation.series, observation.timestamp.timestamp())
        )
        return group_by(admitted, series_key)

    def series_logic(self, resume: SeriesSnapshot | None) -> SeriesLogic:
        return SeriesLogic(self.engine, self.metrics, resume, self.series_idle)


def dead_letter_messages(parsed: Parsed) -> list[OutMessage]:
    return [dead_letter_message(letter) for letter in parsed.letters]


def series_key(observation: Observation) -> str:
    return observation.series
