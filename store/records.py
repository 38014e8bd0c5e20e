"""Typed views of what the store materialises: the parts of each event the API filters and sorts on.

Why our own minimal views rather than importing the producers' models: forecasts, incidents and
actions are written by other components whose schemas evolve. The store keeps the producer's whole
JSON (``payload``) and only insists on the few fields it indexes; aliases accept the names producers
are likely to use, and unknown fields are kept in the payload untouched. Every record has a stable
``id`` so a re-delivered message updates the same row instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from forewarn.events import Detection, ProbeResult

__all__ = [
    "ActionRecord",
    "DetectionRecord",
    "ForecastRecord",
    "IncidentRecord",
    "Kind",
    "ProbeRecord",
    "Record",
    "RecordError",
    "RecordView",
    "parse_record",
    "payload_time",
    "stable_id",
]


class Kind(StrEnum):
    """The kinds of state the store keeps, one table each."""

    PROBE = "probe"
    DETECTION = "detection"
    FORECAST = "forecast"
    INCIDENT = "incident"
    ACTION = "action"


class RecordError(ValueError):
    """A message that cannot become a record (bad JSON, missing fields); the sink counts and skips it."""


def stable_id(*parts: object) -> str:
    """A deterministic id from the fields that identify an event, for producers that send none."""
    raw = "|".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def payload_time(value: Any) -> datetime | None:
    """A stored payload's timestamp (ISO string or epoch seconds) as aware UTC; None if absent or bad."""
    if value is None:
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return _utc(parsed)


class RecordView(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: str = Field(min_length=1, max_length=128)
    service: str = Field(min_length=1, max_length=64)
    timestamp: datetime

    @field_validator("timestamp", mode="after")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @property
    def updated(self) -> datetime:
        """Which of two deliveries of the same id is newer (last writer wins on this)."""
        return self.timestamp

    def index(self) -> dict[str, Any]:
        """Kind-specific indexed columns."""
        return {}


class ProbeRecord(RecordView):
    endpoint: str = ""
    ok: bool
    latency_ms: float
    status: str | None = None
    status_code: int | None = None


class DetectionRecord(RecordView):
    series: str
    detection_kind: str
    severity: str
    score: float

    def index(self) -> dict[str, Any]:
        return {"series": self.series, "detection_kind": self.detection_kind, "severity": self.severity}


class ForecastRecord(RecordView):
    metric: str = Field(validation_alias=AliasChoices("metric", "series", "name"))
    horizon_seconds: float = Field(ge=0, validation_alias=AliasChoices("horizon_seconds", "horizon"))
    point: float
    lower: float | None = None
    upper: float | None = None
    breach_probability: float | None = None
    time_to_exhaustion_seconds: float | None = None
    model: str = "unknown"

    def index(self) -> dict[str, Any]:
        return {"metric": self.metric, "horizon_seconds": float(self.horizon_seconds)}


class IncidentRecord(RecordView):
    timestamp: datetime = Field(validation_alias=AliasChoices("opened_at", "started_at", "timestamp"))
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    status: str = "open"
    severity: str = "warning"

    @field_validator("updated_at", "resolved_at", mode="after")
    @classmethod
    def _opt_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @property
    def updated(self) -> datetime:
        return max(t for t in (self.timestamp, self.updated_at, self.resolved_at) if t is not None)

    def index(self) -> dict[str, Any]:
        return {"status": self.status, "severity": self.severity}


class ActionRecord(RecordView):
    timestamp: datetime = Field(
        validation_alias=AliasChoices("requested_at", "started_at", "created_at", "timestamp", "at")
    )
    updated_at: datetime | None = Field(
        default=None, validation_alias=AliasChoices("updated_at", "finished_at", "completed_at")
    )
    # None: a decision that ran no action (no policy, a guard said no, ...).
    action: str = Field(default="decision", validation_alias=AliasChoices("action", "action_name", "name"))
    status: str = Field(default="unknown", validation_alias=AliasChoices("status", "outcome", "result"))
    incident_id: str | None = None

    @field_validator("updated_at", mode="after")
    @classmethod
    def _opt_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @field_validator("action", mode="before")
    @classmethod
    def _no_action(cls, value: Any) -> Any:
        return "decision" if value is None else value

    @field_validator("status", mode="before")
    @classmethod
    def _status_text(cls, value: Any) -> Any:
        # Producers may send {"status": "succeeded", ...} objects as the outcome.
        if isinstance(value, dict):
            return value.get("status", "unknown")
        return value

    @property
    def updated(self) -> datetime:
        return self.updated_at if self.updated_at and self.updated_at > self.timestamp else self.timestamp

    def index(self) -> dict[str, Any]:
        return {"status": self.status, "action": self.action, "incident_id": self.incident_id}


Record = ProbeRecord | DetectionRecord | ForecastRecord | IncidentRecord | ActionRecord

VIEWS: dict[Kind, type[RecordView]] = {
    Kind.PROBE: ProbeRecord,
    Kind.DETECTION: DetectionRecord,
    Kind.FORECAST: ForecastRecord,
    Kind.INCIDENT: IncidentRecord,
    Kind.ACTION: ActionRecord,
}


def _with_id(kind: Kind, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("id"):
        return payload
    if kind is Kind.PROBE:
        ident = stable_id(payload.get("service"), payload.get("endpoint"), payload.get("timestamp"))
    elif kind is Kind.FORECAST:
        ident = stable_id(
            payload.get("service"),
            payload.get("metric", payload.get("series")),
            payload.get("horizon_seconds", payload.get("horizon")),
            payload.get("model"),
            payload.get("timestamp"),
        )
    elif kind is Kind.DETECTION:
        # Detection ids are always set by the pipeline; fall back to its own recipe.
        ts = payload.get("timestamp")
        ident = stable_id(payload.get("series"), payload.get("detector"), payload.get("detection_kind"), ts)
    else:
        raise RecordError(f"{kind.value} without an 'id': the store cannot de-duplicate it")
    return {**payload, "id": ident}


def parse_record(kind: Kind, data: bytes | str | dict[str, Any]) -> tuple[RecordView, dict[str, Any]]:
    """Validate one message into (typed view, JSON payload to store). Raises :class:`RecordError`."""
    if isinstance(data, dict):
        payload = data
    else:
        try:
            loaded = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RecordError(f"not JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise RecordError(f"expected a JSON object, got {type(loaded).__name__}")
        payload = loaded
    payload = _with_id(kind, payload)
    try:
        if kind is Kind.DETECTION:
            Detection.model_validate(payload)  # the pipeline's own schema is stable: hold it to it
        elif kind is Kind.PROBE:
            ProbeResult.model_validate(payload)
        view = VIEWS[kind].model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise RecordError(f"invalid {kind.value}: {where}: {first.get('msg')}") from None
    return view, payload
