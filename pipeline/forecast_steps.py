"""The Bytewax stateful logic and bound steps for forecasts and log patterns.

Why a module of its own: ``steps.py`` binds the detection path; this binds the two paths that run
beside it (resource gauges -> forecasts and exhaustion detections, log lines -> template
detections), with the same injected clock and metrics, callable in unit tests without Bytewax.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.operators import StatefulLogic
from prometheus_client import CollectorRegistry

from forewarn.events import Detection, ForecastEvent, LogRecord, TelemetryEvent
from forewarn.metrics import ForecastMetrics, forecast_metrics
from forewarn.pipeline.forecasting import (
    ForecastEngine,
    ForecastSnapshot,
    ForecastState,
    GaugeObservation,
    gauge_observations,
)
from forewarn.pipeline.log_patterns import MinerFactory, ServicePatterns, default_miner
from forewarn.pipeline.messages import OutMessage
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.steps import DEFAULT_SERIES_IDLE
from forewarn.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "ForecastLogic",
    "ForecastSteps",
    "LogPatternLogic",
    "forecast_message",
    "is_forecast",
    "only_detection",
]


class ForecastLogic(StatefulLogic[GaugeObservation, ForecastEvent | Detection, ForecastSnapshot | None]):
    """One instance per gauge series, built on its first reading, dropped after ``idle`` of silence
    (wall clock; setting ``pipeline.series_idle_seconds``, as on the detection path)."""

    def __init__(
        self,
        engine: ForecastEngine,
        metrics: PipelineMetrics,
        forecasts: ForecastMetrics,
        resume: ForecastSnapshot | None,
        idle: timedelta = DEFAULT_SERIES_IDLE,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._forecasts = forecasts
        self._idle = idle
        self._last_seen = engine.clock()
        self._state = ForecastState.restore(resume) if resume is not None else None

    def notify_at(self) -> datetime | None:
        return self._last_seen + self._idle

    def on_notify(self) -> tuple[list[ForecastEvent | Detection], bool]:
        if self._engine.clock() - self._last_seen >= self._idle:
            return [], StatefulLogic.DISCARD
        return [], StatefulLogic.RETAIN

    def on_item(self, value: GaugeObservation) -> tuple[list[ForecastEvent | Detection], bool]:
        self._last_seen = self._engine.clock()
        if self._state is None:
            self._state = self._engine.new_state(value)
        if self._engine.is_late(self._state, value):
            self._metrics.observe_late("gauge")
            return [], StatefulLogic.RETAIN
        try:
            self._state, out = self._engine.step(self._state, value)
        except Exception:  # numbers a forecast cannot be built from cost that reading, not the flow
            log.exception("forecast step failed on %s = %r", value.series, value.value)
            return [], StatefulLogic.RETAIN
        for item in out:
            if isinstance(item, ForecastEvent):
                self._forecasts.observe(
                    item.service,
                    item.metric,
                    point=item.point,
                    breach_probability=item.breach_probability,
                    time_to_exhaustion_seconds=item.time_to_exhaustion_seconds,
                )
            else:
                self._metrics.observe_detection(item)
                log.info("detection %s %s: %s", item.severity.value, item.series, item.reason)
        return out, StatefulLogic.RETAIN

    def snapshot(self) -> ForecastSnapshot | None:
        return self._state.snapshot() if self._state is not None else None


class LogPatternLogic(StatefulLogic[LogRecord, Detection, bytes]):
    """One miner per service, built on its first line (dropped after ``idle`` of silence); the
    snapshot is the pickled miner."""

    def __init__(
        self,
        factory: MinerFactory,
        clock: Callable[[], datetime],
        metrics: PipelineMetrics,
        resume: bytes | None,
        idle: timedelta = DEFAULT_SERIES_IDLE,
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._idle = idle
        self._last_seen = clock()
        self._patterns = (
            ServicePatterns.restore(resume, clock) if resume is not None else ServicePatterns(factory(clock))
        )

    def notify_at(self) -> datetime | None:
        return self._last_seen + self._idle

    def on_notify(self) -> tuple[list[Detection], bool]:
        if self._clock() - self._last_seen >= self._idle:
            return [], StatefulLogic.DISCARD
        return [], StatefulLogic.RETAIN

    def on_item(self, value: LogRecord) -> tuple[list[Detection], bool]:
        self._last_seen = self._clock()
        detections = self._patterns.observe(value)
        for detection in detections:
            self._metrics.observe_detection(detection)
            log.info("detection %s %s: %s", detection.severity.value, detection.series, detection.reason)
        return detections, StatefulLogic.RETAIN

    def snapshot(self) -> bytes:
        return self._patterns.snapshot()


class ForecastSteps:
    """The injected pieces of the forecast and log-pattern paths, bound once."""

    def __init__(
        self,
        settings: Settings,
        metrics: PipelineMetrics,
        registry: CollectorRegistry,
        clock: Callable[[], datetime],
        miner_factory: MinerFactory = default_miner,
    ) -> None:
        self.settings = settings.forecast
        self.engine = ForecastEngine(settings.forecast, settings.detector, clock)
        self.metrics = metrics
        self.forecasts = forecast_metrics(registry)
        self.clock = clock
        self.miner_factory = miner_factory
        self.idle = settings.pipeline.series_idle

    def gauges(self, event: TelemetryEvent) -> list[GaugeObservation]:
        return gauge_observations(event, self.settings)

    def forecast_logic(self, resume: ForecastSnapshot | None) -> ForecastLogic:
        return ForecastLogic(self.engine, self.metrics, self.forecasts, resume, self.idle)

    def log_logic(self, resume: bytes | None) -> LogPatternLogic:
        return LogPatternLogic(self.miner_factory, self.clock, self.metrics, resume, self.idle)


def only_log(event: TelemetryEvent) -> LogRecord | None:
    return event if isinstance(event, LogRecord) else None


def log_service(record: LogRecord) -> str:
    return record.service


def gauge_series(observation: GaugeObservation) -> str:
    return observation.series


def is_forecast(item: tuple[str, ForecastEvent | Detection]) -> bool:
    return isinstance(item[1], ForecastEvent)


def forecast_message(item: tuple[str, ForecastEvent | Detection]) -> OutMessage:
    """Forecasts are keyed by service, like detections: one service's stay in order together."""
    forecast = item[1]
    if not isinstance(forecast, ForecastEvent):
        raise TypeError(f"expected a ForecastEvent on the forecast branch, got {type(forecast).__name__}")
    return KafkaSinkMessage(key=forecast.service.encode(), value=forecast.to_json_bytes())


def only_detection(item: tuple[str, ForecastEvent | Detection]) -> Detection:
    """The false side of ``is_forecast`` (mypy cannot narrow a branch's false stream; this does)."""
    detection = item[1]
    if not isinstance(detection, Detection):
        raise TypeError(f"expected a Detection on the detection branch, got {type(detection).__name__}")
    return detection
