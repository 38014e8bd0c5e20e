"""The input topics' schemas: probes, logs and metrics, which any outside producer may send.

Timestamps accept epoch seconds or ISO 8601; a timestamp without a zone is taken as UTC. Unknown
extra fields are ignored so producers can add context safely.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from forewarn.events.base import Details, Name, TopicMessage, utc_in_range


class InputEvent(TopicMessage):
    """Base of the input topics' events: one service, one event time, Kafka-keyed by service."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: Name
    timestamp: datetime

    @field_validator("timestamp")
    @classmethod
    def _timestamp_in_range(cls, value: datetime) -> datetime:
        return utc_in_range(value)

    def key(self) -> str:
        """The Kafka key: events of one key stay in order on one partition."""
        return self.service


class ProbeResult(InputEvent):
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


class LogRecord(InputEvent):
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


class MetricSample(InputEvent):
    """One gauge or counter reading, e.g. ``db_pool_in_use`` or ``http_requests_total``.

    ``cumulative`` marks a running total since some start (a Prometheus counter, an OTLP monotonic
    cumulative sum): the dataflow models its rate per second, because the total itself only grows and
    every new value would be past the range a detector has learned.
    """

    kind: Literal["metric"] = "metric"
    name: Name
    value: float = Field(allow_inf_nan=False)
    unit: str | None = Field(default=None, max_length=32)
    labels: dict[str, str] = Field(default_factory=dict)
    cumulative: bool = False

    def key(self) -> str:
        return f"{self.service}/{self.name}"


TelemetryEvent = ProbeResult | LogRecord | MetricSample


class DeadLetter(TopicMessage):
    """A message the pipeline could not use, kept whole (base64) with the reason.

    ``id`` is deterministic, as on every other output: a restart from the recovery store replays
    the input since its last snapshot and writes the same dead letters again, and consumers drop
    the repeats by id. It comes from where the message was read (topic, partition, offset) when
    that is known, else from the original bytes and the reason. Left out, it is derived, so
    producers and older letters without one still validate.
    """

    kind: Literal["dead_letter"] = "dead_letter"
    id: str = ""  # never stays empty: derived by _derive_id when left out
    reason: str
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = None
    original_b64: str
    original_size: int
    received_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _derive_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            data = {**data, "id": cls.make_id(data)}
        return data

    @staticmethod
    def make_id(fields: dict[str, Any]) -> str:
        """The id of the dead letter with these fields: its position when known, else its content."""
        position = (fields.get("source_topic"), fields.get("partition"), fields.get("offset"))
        if all(part is not None for part in position):
            raw = "|".join(["at", *(str(part) for part in position)]).encode()
        else:
            original = base64.b64decode(str(fields.get("original_b64", "")))
            reason = str(fields.get("reason", ""))
            raw = b"content|" + hashlib.sha256(original).digest() + reason.encode()
        return hashlib.sha256(raw).hexdigest()[:24]


__all__ = [
    "DeadLetter",
    "InputEvent",
    "LogLevel",
    "LogRecord",
    "MetricSample",
    "ProbeResult",
    "TelemetryEvent",
]
