"""Turn messages from the detections, forecasts and incidents topics into triggers; never raise.

Each message is validated against its topic's one schema (``forewarn.events``); the executor reads
the few fields it needs from it. A message that cannot become a trigger yields a reason instead (the
runner counts and logs it; it never stops for bad input).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from pydantic import ValidationError

from forewarn.events import Detection, ForecastEvent, Incident
from forewarn.healing.triggers import Trigger, from_incident
from forewarn.models.base import Forecast


def forecast_trigger(event: ForecastEvent) -> Trigger:
    """The predictive trigger of a forecasts-topic message (``<metric>_exhaustion``, warning)."""
    forecast = Forecast(
        horizon_seconds=event.horizon_seconds,
        point=event.point,
        lower=event.lower,
        upper=event.upper,
        interval_level=event.interval_level,
        breach_probability=event.breach_probability,
        time_to_exhaustion_seconds=event.time_to_exhaustion_seconds,
        confidence=event.confidence,
    )
    return Trigger.from_forecast(
        forecast,
        service=event.service,
        series=event.series,
        kind=f"{event.metric}_exhaustion",
        observed_at=event.timestamp if event.timestamp.tzinfo else event.timestamp.replace(tzinfo=UTC),
    )


def to_trigger(source: str, raw: bytes | str) -> Trigger | str:
    """``source`` is detection, forecast or incident; returns a trigger or why there is none."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON: {exc}"
    if not isinstance(data, dict):
        return "not a JSON object"
    try:
        if source == "detection":
            return Trigger.from_detection(Detection.model_validate(data))
        if source == "forecast":
            event = ForecastEvent.model_validate(data)
            if event.time_to_exhaustion_seconds is None and event.breach_probability is None:
                return "forecast without breach probability or time to exhaustion: nothing to act on"
            return forecast_trigger(event)
        if source == "incident":
            incident = Incident.model_validate(data)
            if incident.status != "open":
                return f"incident {incident.id} is {incident.status}"
            return from_incident(incident)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return f"invalid {source}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return f"unknown source {source!r}"


__all__ = ["forecast_trigger", "to_trigger"]
