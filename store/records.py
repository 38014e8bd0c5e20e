"""How the store files each topic's event: the one schema per topic (``forewarn.events``) plus an index.

Why no views of our own: every topic the store reads has one schema, and the store holds messages to
it; a message that does not validate is rejected (counted by the sink), not half-read. What stays here
is the store's own filing: the row id, the event time, which of two deliveries is newer, and the few
columns each table indexes. Every row has a stable ``id``, so a re-delivered message updates the same
row instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from forewarn.events import ActionEvent, Detection, ForecastEvent, Incident, ProbeResult

__all__ = [
    "EVENTS",
    "Kind",
    "RecordError",
    "Row",
    "parse_record",
    "payload_time",
    "row_of",
    "stable_id",
]


class Kind(StrEnum):
    """The kinds of state the store keeps, one table each."""

    PROBE = "probe"
    DETECTION = "detection"
    FORECAST = "forecast"
    INCIDENT = "incident"
    ACTION = "action"


# The schema each kind's messages must follow.
EVENTS: dict[Kind, type[BaseModel]] = {
    Kind.PROBE: ProbeResult,
    Kind.DETECTION: Detection,
    Kind.FORECAST: ForecastEvent,
    Kind.INCIDENT: Incident,
    Kind.ACTION: ActionEvent,
}


class RecordError(ValueError):
    """A message that cannot become a record (bad JSON, missing fields); the sink counts and skips it."""


def stable_id(*parts: object) -> str:
    """A deterministic id from the fields that identify an event that carries none (probes)."""
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


@dataclass(frozen=True)
class Row:
    """How one event is filed: id, service, event time, last-writer-wins order and indexed columns."""

    id: str
    service: str
    timestamp: datetime
    updated: datetime
    index: dict[str, Any] = field(default_factory=dict)


def row_of(event: BaseModel, ident: str | None = None) -> Row:
    """The row of a validated event; ``ident`` names events without an id of their own (probes)."""
    if isinstance(event, ProbeResult):
        stamp = _utc(event.timestamp)
        index: dict[str, Any] = {"ok": int(event.ok), "latency_ms": event.latency_ms}
        return Row(
            ident or stable_id(event.service, event.endpoint, stamp.isoformat()),
            event.service,
            stamp,
            stamp,
            index,
        )
    if isinstance(event, Detection):
        stamp = _utc(event.timestamp)
        index = {
            "series": event.series,
            "detection_kind": event.detection_kind,
            "severity": event.severity.value,
        }
        return Row(event.id, event.service, stamp, stamp, index)
    if isinstance(event, ForecastEvent):
        stamp = _utc(event.timestamp)
        return Row(
            event.id,
            event.service,
            stamp,
            stamp,
            {"metric": event.metric, "horizon_seconds": event.horizon_seconds},
        )
    if isinstance(event, Incident):
        changes = [t for t in (event.opened_at, event.updated_at, event.resolved_at) if t is not None]
        index = {"status": event.status, "severity": event.severity.value}
        return Row(event.id, event.service, _utc(event.opened_at), _utc(max(changes)), index)
    if isinstance(event, ActionEvent):
        index = {"status": event.status, "action": event.action, "incident_id": event.incident_id}
        return Row(event.id, event.service, _utc(event.timestamp), _utc(event.last_change), index)
    raise RecordError(f"the store keeps no {type(event).__name__}")


def parse_record(kind: Kind, data: bytes | str | dict[str, Any] | BaseModel) -> tuple[Row, dict[str, Any]]:
    """Validate one message into (row, JSON payload to store). Raises :class:`RecordError`."""
    if isinstance(data, BaseModel):
        payload = data.model_dump(mode="json")
    elif isinstance(data, dict):
        payload = data
    else:
        try:
            loaded = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RecordError(f"not JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise RecordError(f"expected a JSON object, got {type(loaded).__name__}")
        payload = loaded
    try:
        event = EVENTS[kind].model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise RecordError(f"invalid {kind.value}: {where}: {first.get('msg')}") from None
    if kind is Kind.PROBE:
        # Probes carry no id: derive it from the message as sent, so a re-delivery maps to the same row.
        ident = payload.get("id") or stable_id(
            payload.get("service"), payload.get("endpoint"), payload.get("timestamp")
        )
        return row_of(event, str(ident)), {**payload, "id": ident}
    return row_of(event), payload
