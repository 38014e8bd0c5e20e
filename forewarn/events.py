"""Versioned event schemas: the contract between any telemetry producer and forewarn.

Every event is a JSON object with ``schema_version`` and ``kind``. Outside producers (a script,
kcat, another service) can feed the input topics as long as they follow these models; the README
documents them field by field. Timestamps accept epoch seconds or ISO 8601; a timestamp without a
zone is taken as UTC. Unknown extra fields are ignored so producers can add context safely.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION: Literal[1] = 1

# Service and metric names end up in Kafka keys, Prometheus labels and file names: keep them tame.
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Scalar = str | int | float | bool | None
Details = dict[str, Scalar | list[Scalar] | dict[str, Scalar]]

_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    stamped = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not _EARLIEST <= stamped < _LATEST:
        raise ValueError(f"timestamp {stamped.isoformat()} is outside 2000-01-01..2100-01-01")
    return stamped


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    service: Name
    timestamp: datetime

    @field_validator("timestamp")
    @classmethod
    def _timestamp_in_range(cls, value: datetime) -> datetime:
        return _utc(value)

    def key(self) -> str:
        """The Kafka key: events of one key stay in order on one partition."""
        return self.service

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class ProbeResult(_Event):
    """One synthetic check of a health endpoint."""

    kind: Literal["probe"] = "probe"
    endpoint: str = Field(min_length=1, max_length=2048)
    latency_ms: float = Field(ge=0, le=3_600_000, allow_inf_nan=False)
    status_code: int | None = Field(default=None, ge=100, le=599)
    ok: bool
    status: Literal["ok", "degraded", "down", "error"] | None = None
    error: str | None = Field(default=None, max_length=2048)
    attempts: int = Field(default=1, ge=1, le=100)
    details: Details = Field(default_factory=dict)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class LogRecord(_Event):
    """One application log line."""

    kind: Literal["log"] = "log"
    level: LogLevel = LogLevel.INFO
    message: str = Field(min_length=1, max_length=16_384)
    logger: str | None = Field(default=None, max_length=256)
    attributes: Details = Field(default_factory=dict)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, str):
            upper = value.upper()
            return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(upper, upper)
        return value


class MetricSample(_Event):
    """One gauge or counter reading, e.g. ``db_pool_in_use`` or ``memory_bytes``."""

    kind: Literal["metric"] = "metric"
    name: Name
    value: float = Field(allow_inf_nan=False)
    unit: str | None = Field(default=None, max_length=32)
    labels: dict[str, str] = Field(default_factory=dict)

    def key(self) -> str:
        return f"{self.service}/{self.name}"


TelemetryEvent = ProbeResult | LogRecord | MetricSample


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Detection(BaseModel):
    """Something unusual on one series, with how sure we are and what drove it.

    ``id`` is derived from series, detector, kind and event time, so a re-delivered event yields the
    same id and downstream sinks and actions stay idempotent.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["detection"] = "detection"
    id: str
    service: Name
    series: str
    detection_kind: str  # e.g. "latency_anomaly", "failure", "metric_anomaly"
    detector: str
    timestamp: datetime  # event time of the triggering event
    detected_at: datetime  # wall clock when the detector emitted it
    score: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    severity: Severity
    value: float
    expected: float | None = None
    reason: str
    features: dict[str, float] = Field(default_factory=dict)

    @staticmethod
    def make_id(series: str, detector: str, detection_kind: str, timestamp: datetime) -> str:
        raw = f"{series}|{detector}|{detection_kind}|{timestamp.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class ForecastEvent(BaseModel):
    """Where one resource series is heading: the forecasts topic's message.

    ``id`` is derived from series, horizon and the event time, so a re-delivered observation yields
    the same id (idempotent sinks). ``threshold`` is the capacity the series exhausts at (e.g. 1.0 for
    a usage ratio); ``time_to_exhaustion_seconds`` is None when no crossing is expected at the
    current trend.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["forecast"] = "forecast"
    id: str
    service: Name
    series: str
    metric: str
    model: str
    timestamp: datetime  # event time of the newest observation the forecast used
    generated_at: datetime
    current_value: float
    horizon_seconds: float = Field(gt=0)
    point: float
    lower: float
    upper: float
    interval_level: float = Field(gt=0, lt=1)
    threshold: float | None = None
    breach_probability: float | None = Field(default=None, ge=0.0, le=1.0)
    time_to_exhaustion_seconds: float | None = Field(default=None, ge=0.0)
    time_to_exhaustion_lower: float | None = Field(default=None, ge=0.0)
    time_to_exhaustion_upper: float | None = Field(default=None, ge=0.0)
    confidence: float = Field(ge=0.0, le=1.0)

    @staticmethod
    def make_id(series: str, horizon_seconds: float, timestamp: datetime) -> str:
        raw = f"{series}|{horizon_seconds:g}|{timestamp.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class DeadLetter(BaseModel):
    """A message the pipeline could not use, kept whole (base64) with the reason."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["dead_letter"] = "dead_letter"
    reason: str
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = None
    original_b64: str
    original_size: int
    received_at: datetime

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


__all__ = [
    "SCHEMA_VERSION",
    "DeadLetter",
    "Detection",
    "ForecastEvent",
    "LogLevel",
    "LogRecord",
    "MetricSample",
    "ProbeResult",
    "Severity",
    "TelemetryEvent",
]
