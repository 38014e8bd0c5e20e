"""Fault injection: each fault changes the service as described, over the injected clock."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from forewarn.musobuddy.faults import FAULTS

from .conftest import AppFactory, ManualClock

pytestmark = pytest.mark.unit


def health(client: TestClient, name: str) -> dict[str, Any]:
    response = client.get(f"/api/health/{name}")
    body: dict[str, Any] = response.json()
    assert response.status_code == (503 if body["status"] == "down" else 200)
    return body


def test_catalogue_lists_every_fault(client: TestClient) -> None:
    body = client.get("/api/faults").json()
    assert body["active"] == []
    assert {f["name"] for f in body["available"]} == set(FAULTS)
    assert {
        "db_outage",
        "db_pool_leak",
        "memory_leak",
        "auth_overload",
        "email_outage",
        "sms_outage",
        "payment_errors",
        "disk_fill",
        "cascade",
    } <= set(FAULTS)


def test_unknown_fault_is_404(client: TestClient) -> None:
    for method in ("POST", "DELETE"):
        response = client.request(method, "/api/faults/gremlins")
        assert response.status_code == 404
        assert "unknown fault 'gremlins'" in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "body", "fragment"),
    [
        ("payment_errors", {"rate": 1.5}, "above the maximum"),
        ("db_outage", {"rate": 2}, "takes no 'rate'"),
        ("db_pool_leak", {"rate": -1}, "greater than 0"),
        ("db_pool_leak", {"speed": 3}, "Extra inputs"),
        ("db_pool_leak", {"provider": "primary"}, "takes no 'provider'"),
        ("email_outage", {"provider": "tertiary"}, "primary"),
        ("auth_overload", {"persistent": True}, "takes no 'persistent'"),
        ("memory_leak", {"duration_seconds": 0}, "greater than 0"),
        ("memory_leak", {"flap_seconds": 10}, "takes no 'flap_seconds'"),
    ],
)
def test_bad_params_are_422_with_detail(
    client: TestClient, name: str, body: dict[str, Any], fragment: str
) -> None:
    response = client.post(f"/api/faults/{name}", json=body)
    assert response.status_code == 422
    assert fragment in str(response.json()["detail"])
    assert client.get("/api/faults").json()["active"] == []


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"rate": 1e400}', b'{"rate": NaN}', b"\xff\xfe"])
def test_malformed_bodies_are_422_never_500(client: TestClient, raw: bytes) -> None:
    response = client.post(
        "/api/faults/db_pool_leak", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert client.get("/api/faults").json()["active"] == []


def test_db_pool_leak_goes_ok_degraded_down(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/faults/db_pool_leak", json={"rate": 1.0})
    # 6 baseline + 1/s: 80% of 50 (40) at t=34 s, full (50) at t=44 s.
    clock.advance(33)
    assert health(client, "database")["status"] == "ok"
    clock.advance(1)
    body = health(client, "database")
    assert body["status"] == "degraded"
    assert body["details"]["db_pool_in_use"] == 40
    assert body["details"]["db_pool_usage"] == pytest.approx(0.8)
    clock.advance(10)
    body = health(client, "database")
    assert body["status"] == "down"
    assert body["details"]["db_pool_in_use"] == 50
    clock.advance(10)
    assert health(client, "database")["details"]["db_waiters"] == 10
    assert health(client, "auth")["status"] == "down"  # no connection for the user lookup
    assert health(client, "overall")["status"] == "down"


def test_removing_a_leak_stops_growth_but_keeps_the_damage(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/faults/db_pool_leak", json={"rate": 2.0})
    clock.advance(10)
    assert client.delete("/api/faults/db_pool_leak").json() == {"fault": "db_pool_leak", "removed": True}
    assert client.delete("/api/faults/db_pool_leak").json()["removed"] is False
    clock.advance(100)
    assert health(client, "database")["details"]["db_pool_in_use"] == 26
    client.delete("/api/faults", params={"reset_state": True})
    assert health(client, "database")["details"]["db_pool_in_use"] == 6


def test_fault_with_duration_ends_by_itself(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/faults/db_pool_leak", json={"rate": 1.0, "duration_seconds": 20})
    clock.advance(50)
    assert client.get("/api/faults").json()["active"] == []
    # It leaked for its 20 s only.
    assert health(client, "database")["details"]["db_pool_in_use"] == 26
    client.post("/api/faults/db_outage", json={"duration_seconds": 5})
    assert health(client, "database")["status"] == "down"
    clock.advance(5)
    assert health(client, "database")["status"] == "ok"


def test_injecting_again_replaces_parameters(client: TestClient) -> None:
    assert client.post("/api/faults/payment_errors", json={"rate": 0.1}).json()["replaced"] is False
    second = client.post("/api/faults/payment_errors", json={"rate": 0.6}).json()
    assert second["replaced"] is True
    assert second["fault"]["params"]["rate"] == 0.6
    assert len(client.get("/api/faults").json()["active"]) == 1


def test_db_outage_takes_database_auth_and_payments_down(client: TestClient) -> None:
    client.post("/api/faults/db_outage")
    assert health(client, "database")["status"] == "down"
    assert health(client, "auth")["status"] == "down"
    assert health(client, "payments")["status"] == "down"
    assert health(client, "email")["status"] == "ok"
    overall = health(client, "overall")
    assert overall["status"] == "down"
    client.delete("/api/faults/db_outage")
    assert health(client, "overall")["status"] == "ok"


def test_memory_leak_degrades_then_ooms(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/faults/memory_leak", json={"rate": 10.0})
    start = health(client, "overall")["details"]["memory_bytes"]
    clock.advance(10)
    grown = health(client, "overall")["details"]["memory_bytes"]
    assert grown - start == 100 * 1024 * 1024
    # Limit 1024 MiB, ~335 MiB in use: degraded (85%) after ~54 s, OOM after ~69 s.
    clock.advance(50)
    assert health(client, "overall")["status"] == "degraded"
    clock.advance(20)
    body = health(client, "overall")
    assert body["status"] == "down"
    assert body["details"]["oom_killed"] is True
    memory = next(c for c in body["checks"] if c["name"] == "memory")
    assert memory["status"] == "down"
    assert "OOMKilled" in memory["detail"]


def test_auth_overload_raises_latency(client: TestClient, clock: ManualClock) -> None:
    assert health(client, "auth")["latency_ms"] < 500
    client.post("/api/faults/auth_overload", json={"rate": 100.0})
    clock.advance(5)
    body = health(client, "auth")
    assert body["details"]["overload_latency_ms"] == pytest.approx(500)
    assert body["latency_ms"] > 500 + 40  # on top of the configured 40 ms and the real login time
    assert body["status"] == "degraded"
    clock.advance(30)
    body = health(client, "auth")
    assert body["status"] == "down"
    assert body["details"]["overload_latency_ms"] == pytest.approx(3500)


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_provider_outage(client: TestClient, channel: str) -> None:
    client.post(f"/api/faults/{channel}_outage")
    body = health(client, channel)
    assert body["status"] == "down"
    code = "SMTP 421" if channel == "email" else "HTTP 503"
    assert code in body["checks"][0]["detail"]
    assert body["details"]["standby_up"] is True
    overall = health(client, "overall")
    assert overall["status"] == "degraded"  # the site still works without it
    client.post(f"/api/faults/{channel}_outage", json={"provider": "secondary"})
    assert health(client, channel)["status"] == "ok"  # primary is in use and fine
    client.post(f"/api/faults/{channel}_outage", json={"provider": "both"})
    assert health(client, channel)["details"]["standby_up"] is False


def test_payment_errors_grade_by_error_rate(client: TestClient) -> None:
    client.post("/api/faults/payment_errors", json={"rate": 0.1})
    body = health(client, "payments")
    assert body["status"] == "degraded"
    assert body["details"]["error_rate"] == pytest.approx(0.1)
    client.post("/api/faults/payment_errors", json={"rate": 0.6})
    assert health(client, "payments")["status"] == "down"


def test_disk_fill_grows_in_bursts(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/faults/disk_fill", json={"rate": 100.0})
    start = health(client, "overall")["details"]["disk_used_bytes"]
    clock.advance(14)
    assert health(client, "overall")["details"]["disk_used_bytes"] == start  # between bursts: nothing
    clock.advance(1)
    first = health(client, "overall")["details"]["disk_used_bytes"]
    assert first > start  # one burst of 0.3..1.7 x 15 s x 100 MiB/s
    assert 0.3 * 1500 * 1024**2 <= first - start <= 1.7 * 1500 * 1024**2
    clock.advance(600)
    body = health(client, "overall")
    assert body["details"]["disk_usage"] >= 0.97
    disk = next(c for c in body["checks"] if c["name"] == "disk")
    assert disk["status"] == "down"


def test_cascade_db_then_auth_then_payments(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/faults/cascade", json={"rate": 2.0})
    # Pool 6 + 2/s: degraded at 80% (t=17), full at t=22.
    clock.advance(17)
    assert health(client, "database")["status"] == "degraded"
    assert health(client, "auth")["status"] == "ok"
    clock.advance(5)
    assert health(client, "database")["status"] == "down"
    assert health(client, "auth")["status"] == "down"
    payments = health(client, "payments")
    assert payments["status"] == "down"
    assert payments["details"]["error_rate"] == pytest.approx(0.0)
    clock.advance(20)
    assert health(client, "payments")["details"]["error_rate"] == pytest.approx(0.4)


def test_bad_deploy_changes_version_and_error_rate(client: TestClient) -> None:
    client.post("/api/faults/bad_deploy")
    body = health(client, "payments")
    assert body["version"] == "2.4.1"
    assert body["details"]["error_rate"] == pytest.approx(0.2)
    assert body["status"] == "degraded"


def test_each_fault_instance_is_independent(make_app: AppFactory) -> None:
    first, _ = make_app()
    second, _ = make_app()
    first.post("/api/faults/db_outage")
    assert first.get("/api/health/database").status_code == 503
    assert second.get("/api/health/database").status_code == 200


def test_flapping_outage_toggles_with_the_clock(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/faults/db_outage", json={"flap_seconds": 30})
    seen = []
    for _ in range(12):
        seen.append(health(client, "database")["status"])
        clock.advance(10)
    assert seen == ["down"] * 3 + ["ok"] * 3 + ["down"] * 3 + ["ok"] * 3
    assert client.get("/api/faults").json()["active"][0]["on"] is True  # t = 120 s: a new "on" phase
    clock.advance(30)
    assert client.get("/api/faults").json()["active"][0]["on"] is False
