"""SLO maths on hand-made probe series: SLIs, budgets, multi-window burn-rate alerts, downtime and cost."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forewarn.settings import ServiceBusiness, SloSettings
from forewarn.store.db import Store
from forewarn.store.records import Kind, parse_record
from forewarn.store.slo import Sample, SloStatus, downtime, evaluate, outage_cost, outages
from forewarn.store.views import period_impact
from tests.api.factories import T0, incident, probe

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0
SETTINGS = SloSettings()


def _series(seconds: int, bad: range, *, step: int = 1, latency: float = 50.0) -> list[Sample]:
    """One probe per ``step`` seconds over the last ``seconds``; offsets in ``bad`` fail."""
    return [Sample(NOW - seconds + i, i not in bad, latency) for i in range(0, seconds, step)]


def _availability(samples: list[Sample], settings: SloSettings = SETTINGS) -> SloStatus:
    return next(s for s in evaluate("auth", samples, NOW, settings) if s.objective == "availability")


def test_sli_and_error_budget() -> None:
    status = _availability(_series(10_000, range(0, 5)))  # 5 bad in 10,000: half the 0.1% budget
    assert status.sli == pytest.approx(0.9995)
    assert status.error_budget_remaining == pytest.approx(0.5)
    assert status.alerts == []


def test_fast_burn_pages_only_while_the_short_window_burns_too() -> None:
    # The last 5 minutes all failing: 1h burn = (300/3600)/0.001 = 83, 5m burn = 1000 -> page.
    burning = _availability(_series(3600, range(3300, 3600)))
    assert burning.burn_rates["1h"] == pytest.approx(300 / 3600 / 0.001)
    assert burning.burn_rates["5m"] == pytest.approx(1000.0)
    assert {(a.severity, a.long_window_seconds) for a in burning.alerts} >= {("page", 3600.0)}
    # Same amount of failure, but it stopped 20 minutes ago: the 1h window still burns, 5m does not.
    recovered = _availability(_series(3600, range(1800, 2100)))
    assert recovered.burn_rates["1h"] > 14.4
    assert recovered.burn_rates["5m"] == 0.0
    assert not any(a.long_window_seconds == 3600.0 for a in recovered.alerts)


def test_latency_objective_uses_the_threshold() -> None:
    settings = SloSettings(latency_threshold_ms=100.0, latency_target=0.9)
    fast = [Sample(NOW - 100 + i, True, 50.0 if i % 10 else 500.0) for i in range(100)]
    latency = next(s for s in evaluate("auth", fast, NOW, settings) if s.objective == "latency")
    assert latency.sli == pytest.approx(0.9)
    assert latency.error_budget_remaining == pytest.approx(0.0)


def test_per_service_targets_override_the_default() -> None:
    settings = SloSettings(services={"auth": ServiceBusiness(availability_target=0.99)})
    assert _availability(_series(100, range(0)), settings).target == 0.99
    assert _availability(_series(100, range(0))).target == 0.999


def test_no_probes_means_unknown_not_perfect() -> None:
    status = _availability([])
    assert status.sli is None and status.error_budget_remaining is None


def test_outages_join_consecutive_failures_and_cap_gaps() -> None:
    samples = [
        Sample(t, ok, 10.0) for t, ok in [(0, True), (10, False), (20, False), (30, True), (40, False)]
    ]
    samples += [Sample(2000, False, 10.0), Sample(2010, True, 10.0)]
    found = outages("db", samples, max_gap_seconds=300)
    spans = [(o.start, o.end) for o in found]
    # 10..30; 40 fails and the next probe is 1,960 s later: counted for at most 300 s; 2000..2010.
    assert spans == [(10, 30), (40, 340), (2000, 2010)]
    assert downtime(found, 0, 3000) == 20 + 300 + 10
    assert downtime(found, 15, 25) == 10


def test_an_open_outage_lasts_one_typical_interval_past_the_last_failure() -> None:
    samples = [Sample(t, t < 50, 10.0) for t in range(0, 100, 10)]
    assert [(o.start, o.end) for o in outages("db", samples)] == [(50, 100)]


def test_cost_and_customer_impact() -> None:
    cost = outage_cost("payments", 180.0, SETTINGS)
    assert cost.cost == pytest.approx(150.0) and cost.users_affected == pytest.approx(30.0)
    assert outage_cost("unknown-service", 180.0, SETTINGS).cost == 0.0


def test_period_totals_per_service_and_incident(store: Store) -> None:
    probes = [probe("payments", T0 + timedelta(seconds=s), ok=not 60 <= s < 180) for s in range(0, 600, 10)]
    probes += [probe("email", T0 + timedelta(seconds=s), ok=s != 300) for s in range(0, 600, 10)]
    store.upsert(Kind.PROBE, [parse_record(Kind.PROBE, p) for p in probes])
    store.upsert(
        Kind.INCIDENT,
        [
            parse_record(
                Kind.INCIDENT,
                incident(
                    "i1",
                    "payments",
                    T0 + timedelta(seconds=50),
                    status="resolved",
                    resolved=T0 + timedelta(seconds=200),
                ),
            )
        ],
    )
    impact = period_impact(store, T0.timestamp(), (T0 + timedelta(minutes=10)).timestamp(), SETTINGS)
    by_service = {s.service: s for s in impact.services}
    assert by_service["payments"].downtime_seconds == pytest.approx(120.0)
    assert by_service["payments"].cost == pytest.approx(100.0)
    assert by_service["payments"].availability == pytest.approx(48 / 60)
    assert by_service["email"].downtime_seconds == pytest.approx(10.0)
    assert impact.total_cost == pytest.approx(100.0 + 10 / 60 * 2.0)
    ((item, cost),) = impact.incidents
    assert item.id == "i1" and cost.downtime_seconds == pytest.approx(120.0)
