"""The shared pieces of the topic schemas: the severity order and the detection's typed forecast."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forewarn.events import Detection, Severity
from tests.factories import forecast_figures, make_detection

pytestmark = pytest.mark.unit
T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def test_severity_order_is_by_rank_not_by_name() -> None:
    assert [s.rank for s in (Severity.INFO, Severity.WARNING, Severity.CRITICAL)] == [0, 1, 2]
    assert Severity.CRITICAL.at_least(Severity.WARNING) and Severity.WARNING.at_least(Severity.WARNING)
    assert not Severity.INFO.at_least(Severity.WARNING)
    # As strings "critical" < "info": the rank, not the value, decides.
    assert Severity.worst([Severity.INFO, Severity.CRITICAL, Severity.WARNING]) is Severity.CRITICAL
    assert Severity.worst([]) is Severity.INFO and Severity.worst([], Severity.WARNING) is Severity.WARNING


def test_detection_forecast_round_trips_and_old_messages_still_validate() -> None:
    warned = make_detection("database", T0, kind="exhaustion_forecast", forecast=forecast_figures(420.0, 0.8))
    again = Detection.model_validate_json(warned.to_json_bytes())
    assert again.forecast is not None and again.forecast.time_to_exhaustion_seconds == 420.0
    assert again.forecast.breach_probability == 0.8
    old = warned.model_dump(mode="json")
    del old["forecast"]  # a message written before the field existed
    assert Detection.model_validate(old).forecast is None


def test_forecast_figures_refuse_a_probability_out_of_range() -> None:
    with pytest.raises(ValueError, match="breach_probability"):
        forecast_figures(60.0, probability=1.5)
