"""Messages from the trigger topics become triggers, or a reason; nothing raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from forewarn.healing.inputs import to_trigger
from forewarn.healing.triggers import Trigger
from tests.factories import make_forecast, make_incident

pytestmark = pytest.mark.unit
T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)

FORECAST = make_forecast(
    "overall", "memory_usage", T0, horizon=1800, point=0.97, tte=900, probability=0.9
).model_dump(mode="json")


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
        ("incident", make_incident("i", "db", T0, status="resolved").model_dump_json(), "is resolved"),
        ("incident", json.dumps({"id": "i", "service": "db", "status": "open"}), "invalid incident"),
        ("metrics", "{}", "unknown source"),
    ],
)
def test_bad_messages_give_a_reason(source: str, raw: str | bytes, why: str) -> None:
    result = to_trigger(source, raw)
    assert isinstance(result, str) and why in result


def test_open_incident_becomes_an_incident_trigger() -> None:
    trigger = to_trigger("incident", make_incident("inc-1", "database", T0).model_dump_json())
    assert isinstance(trigger, Trigger) and trigger.incident_id == "inc-1" and trigger.source == "incident"
