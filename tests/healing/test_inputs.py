"""Messages from the trigger topics become triggers, or a reason; nothing raises."""

from __future__ import annotations

import json

import pytest

from forewarn.healing.inputs import to_trigger
from forewarn.healing.triggers import Trigger

pytestmark = pytest.mark.unit

FORECAST = {
    "service": "overall",
    "metric": "overall/memory_usage",
    "timestamp": "2027-01-15T08:00:00Z",
    "horizon_seconds": 1800,
    "point": 0.97,
    "lower": 0.9,
    "upper": 1.05,
    "breach_probability": 0.9,
    "time_to_exhaustion_seconds": 900,
    "confidence": 0.7,
    "model": "trend",
}


def test_forecast_message_becomes_a_predictive_trigger() -> None:
    trigger = to_trigger("forecast", json.dumps(FORECAST))
    assert isinstance(trigger, Trigger)
    assert trigger.predictive and trigger.lead_time_seconds == 900
    assert (trigger.kind, trigger.series, trigger.breach_probability) == (
        "memory_usage_exhaustion",
        "overall/memory_usage",
        0.9,
    )
    again = to_trigger("forecast", json.dumps({**FORECAST, "timestamp": "2027-01-15T08:00:30Z"}))
    assert isinstance(again, Trigger) and again.id == trigger.id, "same window, same id: one heal"


@pytest.mark.parametrize(
    ("source", "raw", "why"),
    [
        ("detection", b"\xff\xfe", "not JSON"),
        ("detection", b"[1, 2]", "not a JSON object"),
        ("detection", json.dumps({"id": "x"}), "invalid detection"),
        ("forecast", json.dumps({**FORECAST, "breach_probability": 7}), "invalid forecast"),
        (
            "forecast",
            json.dumps({**FORECAST, "breach_probability": None, "time_to_exhaustion_seconds": None}),
            "nothing to act on",
        ),
        ("incident", json.dumps({"id": "i", "service": "db", "status": "resolved"}), "is resolved"),
        ("metrics", "{}", "unknown source"),
    ],
)
def test_bad_messages_give_a_reason(source: str, raw: str | bytes, why: str) -> None:
    result = to_trigger(source, raw)
    assert isinstance(result, str) and why in result


def test_open_incident_becomes_an_incident_trigger() -> None:
    trigger = to_trigger(
        "incident",
        json.dumps(
            {"id": "inc-1", "service": "database", "severity": "critical", "opened_at": FORECAST["timestamp"]}
        ),
    )
    assert isinstance(trigger, Trigger) and trigger.incident_id == "inc-1" and trigger.source == "incident"
