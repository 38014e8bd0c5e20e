"""The functions and the stateful logic the dataflow's operators call.

Why a class of steps: each operator needs the same injected pieces (ingest limits, clock, metrics,
detection engine); binding them once here keeps ``dataflow.py`` a readable top-to-bottom wiring
diagram, and every step is callable in a unit test without running Bytewax.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeGuard

from bytewax.operators import StatefulLogic

from forewarn.events import DeadLetter, Detection, TelemetryEvent
from forewarn.ingest import RawMessage, parse_message
from forewarn.pipeline.cardinality import SeriesBudget
from forewarn.pipeline.detection import DetectionEngine, SeriesSnapshot, SeriesState
from forewarn.pipeline.forecasting import GaugeObservation
from forewarn.pipeline.messages import OutMessage, SourceItem, dead_letter_message, to_raw
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.observations import Observation
from forewarn.settings import IngestSettings, PipelineSettings

log = logging.getLogger(__name__)
# The default of the pipeline.series_idle_seconds setting, for logic built without settings (tests).
DEFAULT_SERIES_IDLE = PipelineSettings().series_idle

__all__ = ["DEFAULT_SERIES_IDLE", "FlowSteps", "SeriesLogic", "is_event"]


def is_event(item: TelemetryEvent | DeadLetter) -> TypeGuard[TelemetryEvent]:
    return not isinstance(item, DeadLetter)


class SeriesLogic(StatefulLogic[Observation, Detection, SeriesSnapshot | None]):
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

    def on_item(self, value: Observation) -> tuple[list[Detection], bool]:
        self._last_seen = self._engine.clock()
        if self._state is None:
            self._state = self._engine.new_state(value)
            self._metrics.active_series.inc()
        if self._engine.is_late(self._state, value):
            self._metrics.observe_late(value.signal)
            return [], StatefulLogic.RETAIN
        self._state, detections = self._engine.step(self._state, value)
        for detection in detections:
            self._metrics.observe_detection(detection)
            log.info("detection %s %s: %s", detection.severity.value, detection.series, detection.reason)
        return detections, StatefulLogic.RETAIN

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

    def admit(self, item: Observation | GaugeObservation) -> bool:
        """Within pipeline.max_series (detector and gauge series share the one budget)."""
        return self.budget.admit(item.series, item.timestamp.timestamp())

    def series_logic(self, resume: SeriesSnapshot | None) -> SeriesLogic:
        return SeriesLogic(self.engine, self.metrics, resume, self.series_idle)


def letter_message(item: TelemetryEvent | DeadLetter) -> OutMessage:
    """The false side of ``is_event``: mypy cannot narrow a branch's false stream, this does."""
    if not isinstance(item, DeadLetter):
        raise TypeError(f"expected a DeadLetter on the dead-letter branch, got {type(item).__name__}")
    return dead_letter_message(item)


def series_key(observation: Observation) -> str:
    return observation.series
