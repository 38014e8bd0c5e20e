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

from forewarn.events import Detection, ForecastEvent, LogRecord, LogTemplateDigest, TelemetryEvent
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
from forewarn.pipeline.steps import DEFAULT_SERIES_IDLE, Parsed, group_by
from forewarn.settings import PipelineSettings, Settings

log = logging.getLogger(__name__)
# The default of the pipeline.log_digest_seconds setting, for logic built without settings (tests).
DEFAULT_DIGEST_EVERY = timedelta(seconds=PipelineSettings().log_digest_seconds)

__all__ = [
    "ForecastLogic",
    "ForecastSteps",
    "LogOutput",
    "LogPatternLogic",
    "digest_message",
    "forecast_message",
    "is_digest",
    "is_forecast",
    "only_detection",
]


_ForecastOut = ForecastEvent | Detection


class ForecastLogic(StatefulLogic[list[GaugeObservation], _ForecastOut, ForecastSnapshot | None]):
    """One instance per gauge series, built on its first reading, dropped after ``idle`` of silence
    (wall clock; setting ``pipeline.series_idle_seconds``, as on the detection path). Each item is
    the series' readings of one micro-batch, in order."""

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

    def on_item(self, value: list[GaugeObservation]) -> tuple[list[ForecastEvent | Detection], bool]:
        self._last_seen = self._engine.clock()
        out: list[ForecastEvent | Detection] = []
        for reading in value:
            out += self._one(reading)
        return out, StatefulLogic.RETAIN

    def _one(self, value: GaugeObservation) -> list[ForecastEvent | Detection]:
        if self._state is None:
            self._state = self._engine.new_state(value)
        if self._engine.is_late(self._state, value):
            self._metrics.observe_late("gauge")
            return []
        try:
            self._state, out = self._engine.step(self._state, value)
        except Exception:  # numbers a forecast cannot be built from cost that reading, not the flow
            log.exception("forecast step failed on %s = %r", value.series, value.value)
            return []
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
        return out

    def snapshot(self) -> ForecastSnapshot | None:
        return self._state.snapshot() if self._state is not None else None


LogOutput = Detection | LogTemplateDigest


class LogPatternLogic(StatefulLogic[list[LogRecord], LogOutput, bytes]):
    """One miner per service, built on its first line (dropped after ``idle`` of silence); the
    snapshot is the pickled miner. Each item is the service's lines of one micro-batch, in order.

    Besides detections it emits the service's template digest once a period of ``digest_every`` has
    passed: in event time when the next line comes, or on the wall clock when the service goes quiet
    (a fault healed within seconds leaves a few error lines and then silence; they must still reach
    the incident). At the end of the input (a batch replay) the last period is flushed too.
    """

    def __init__(
        self,
        factory: MinerFactory,
        clock: Callable[[], datetime],
        metrics: PipelineMetrics,
        resume: bytes | None,
        idle: timedelta = DEFAULT_SERIES_IDLE,
        digest_every: timedelta = DEFAULT_DIGEST_EVERY,
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._idle = idle
        self._digest_every = digest_every
        self._last_seen = clock()
        self._patterns = (
            ServicePatterns.restore(resume, clock) if resume is not None else ServicePatterns(factory(clock))
        )
        # Wall-clock deadline of the pending digest (not in the snapshot: re-armed on restore).
        pending = self._patterns.pending_since() is not None
        self._digest_due: datetime | None = self._last_seen + digest_every if pending else None

    def notify_at(self) -> datetime | None:
        idle = self._last_seen + self._idle
        return idle if self._digest_due is None else min(idle, self._digest_due)

    def on_notify(self) -> tuple[list[LogOutput], bool]:
        now = self._clock()
        if now - self._last_seen >= self._idle:
            return list(self._digests()), StatefulLogic.DISCARD
        if self._digest_due is not None and now >= self._digest_due:
            return list(self._digests()), StatefulLogic.RETAIN
        return [], StatefulLogic.RETAIN

    def on_item(self, value: list[LogRecord]) -> tuple[list[LogOutput], bool]:
        self._last_seen = self._clock()
        out: list[LogOutput] = []
        for record in value:
            since = self._patterns.pending_since()
            if since is not None and record.timestamp - since >= self._digest_every:
                out += self._digests()
            detections = self._patterns.observe(record)
            for detection in detections:
                self._metrics.observe_detection(detection)
                log.info("detection %s %s: %s", detection.severity.value, detection.series, detection.reason)
            if self._digest_due is None:
                self._digest_due = self._last_seen + self._digest_every
            out += detections
        return out, StatefulLogic.RETAIN

    def on_eof(self) -> tuple[list[LogOutput], bool]:
        return list(self._digests()), StatefulLogic.RETAIN

    def snapshot(self) -> bytes:
        return self._patterns.snapshot()

    def _digests(self) -> list[LogTemplateDigest]:
        self._digest_due = None
        return self._patterns.digests()


class ForecastSteps:
    """The injected pieces of the forecast and log-pattern paths, bound once."""

    def __init__(
        self,
        settings: Settings,
        metrics: PipelineMetrics,
        registry: CollectorRegistry,
        clock: Callable[[], datetime],
        miner_factory: MinerFactory = default_miner,
        admit: Callable[[GaugeObservation], bool] | None = None,
    ) -> None:
        """``admit``: whether a gauge's series fits the process' series budget (None: all do)."""
        self.settings = settings.forecast
        self.admit = admit
        self.engine = ForecastEngine(settings.forecast, settings.detector, clock)
        self.metrics = metrics
        self.forecasts = forecast_metrics(registry)
        self.clock = clock
        self.miner_factory = miner_factory
        self.idle = settings.pipeline.series_idle
        self.digest_every = timedelta(seconds=settings.pipeline.log_digest_seconds)

    def gauges(self, event: TelemetryEvent) -> list[GaugeObservation]:
        return gauge_observations(event, self.settings)

    def gauge_groups(self, parsed: Parsed) -> list[tuple[str, list[GaugeObservation]]]:
        """The batch's admitted gauge readings, grouped by gauge series (in order)."""
        admit, settings = self.admit, self.settings
        readings = (g for event in parsed.events for g in gauge_observations(event, settings))
        return group_by(readings if admit is None else filter(admit, readings), gauge_series)

    @staticmethod
    def log_groups(parsed: Parsed) -> list[tuple[str, list[LogRecord]]]:
        """The batch's log records, grouped by service (in order)."""
        return group_by((e for e in parsed.events if isinstance(e, LogRecord)), log_service)

    def forecast_logic(self, resume: ForecastSnapshot | None) -> ForecastLogic:
        return ForecastLogic(self.engine, self.metrics, self.forecasts, resume, self.idle)

    def log_logic(self, resume: bytes | None) -> LogPatternLogic:
        return LogPatternLogic(
            self.miner_factory, self.clock, self.metrics, resume, self.idle, self.digest_every
        )


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


def only_detection(item: tuple[str, ForecastEvent | Detection | LogTemplateDigest]) -> Detection:
    """The false side of ``is_forecast`` and ``is_digest`` (mypy cannot narrow a branch's false
    stream; this does)."""
    detection = item[1]
    if not isinstance(detection, Detection):
        raise TypeError(f"expected a Detection on the detection branch, got {type(detection).__name__}")
    return detection


def is_digest(item: tuple[str, LogOutput]) -> bool:
    return isinstance(item[1], LogTemplateDigest)


def digest_message(item: tuple[str, LogOutput]) -> OutMessage:
    """Digests are keyed by service, like detections: one service's stay in order together."""
    digest = item[1]
    if not isinstance(digest, LogTemplateDigest):
        raise TypeError(f"expected a LogTemplateDigest on the digest branch, got {type(digest).__name__}")
    return KafkaSinkMessage(key=digest.service.encode(), value=digest.to_json_bytes())
