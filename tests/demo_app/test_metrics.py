"""GET /metrics: the simulated resources at scrape time, faults, and request counts per route."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from .conftest import AppFactory, ManualClock

pytestmark = pytest.mark.unit


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_resources_follow_the_simulation(client: TestClient, clock: ManualClock) -> None:
    before = scrape(client)
    assert before[("musobuddy_db_pool_in_use", ())] == 6
    assert before[("musobuddy_db_pool_size", ())] == 50
    assert before[("musobuddy_build_info", (("version", "2.4.0"),))] == 1
    assert before[("musobuddy_fault_active", (("fault", "db_pool_leak"),))] == 0
    client.post("/api/faults/db_pool_leak", json={"rate": 1.0})
    client.post("/api/faults/email_outage")
    clock.advance(20)
    after = scrape(client)
    assert after[("musobuddy_db_pool_in_use", ())] == 26
    assert after[("musobuddy_fault_active", (("fault", "db_pool_leak"),))] == 1
    assert after[("musobuddy_provider_up", (("channel", "email"), ("provider", "sendgrid")))] == 0
    assert after[("musobuddy_provider_up", (("channel", "sms"), ("provider", "twilio")))] == 1
    assert after[("musobuddy_uptime_seconds", ())] == pytest.approx(20)


def test_requests_are_counted_by_route_template(make_app: AppFactory) -> None:
    client, _ = make_app()
    other, _ = make_app()
    for name in ("auth", "email", "email"):
        client.get(f"/api/health/{name}")
    client.get("/no/such/page")
    samples = scrape(client)
    key = (("method", "GET"), ("route", "/api/health/{name}"), ("status", "200"))
    assert samples[("musobuddy_http_requests_total", key)] == 3
    assert (
        samples[
            ("musobuddy_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))
        ]
        == 1
    )
    assert ("musobuddy_http_requests_total", key) not in scrape(other)  # each app has its own registry
