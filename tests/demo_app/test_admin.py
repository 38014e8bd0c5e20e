"""The signed admin API: every action really changes state, and every guard refuses what it must.

Requests are signed with ``forewarn.admin_signing.sign`` by hand: Starlette's TestClient may be built
on httpx2, whose auth classes differ from httpx's, so ``AdminAuth`` itself is exercised over real
HTTP in test_server.py and against a MockTransport in test_signing.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forewarn.admin_signing import HmacKey, generate_key_pair, parse_signing_key, sign
from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY, DEMO_ADMIN_PUBLIC_KEY

from .conftest import AdminAuth, AppFactory, ManualClock, Response

DEMO_KEY = parse_signing_key(DEMO_ADMIN_PRIVATE_KEY)

pytestmark = pytest.mark.unit


def admin(
    client: TestClient,
    auth: AdminAuth,
    action: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    raw = json.dumps(body if body is not None else {}).encode()
    return auth.post(client, f"/api/admin/{action}", raw, headers)


def status(client: TestClient, name: str) -> str:
    value: str = client.get(f"/api/health/{name}").json()["status"]
    return value


def audit(client: TestClient, auth: AdminAuth) -> list[dict[str, Any]]:
    response = auth.get(client, "/api/admin/audit")
    assert response.status_code == 200
    records: list[dict[str, Any]] = response.json()["records"]
    return records


# ------------------------------------------------------------------ actions


def test_pool_leak_then_reset_connections_heals(
    client: TestClient, clock: ManualClock, auth: AdminAuth
) -> None:
    client.post("/api/faults/db_pool_leak", json={"rate": 1.0})
    seen = []
    for _ in range(50):
        clock.advance(1)
        seen.append(status(client, "database"))
    assert seen[0] == "ok"
    assert seen[-1] == "down"
    first_degraded, first_down = seen.index("degraded"), seen.index("down")
    assert 0 < first_degraded < first_down
    assert set(seen[first_degraded:first_down]) == {"degraded"}  # no flapping on the way down
    response = admin(client, auth, "reset-connections")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["changed"] is True
    assert body["before"]["db_pool_in_use"] == 50 and body["before"]["db_waiters"] > 0
    assert body["after"]["db_pool_in_use"] == 6 and body["after"]["db_waiters"] == 0
    assert body["stopped_faults"] == ["db_pool_leak"]
    assert status(client, "database") == "ok"
    clock.advance(60)
    assert status(client, "database") == "ok"  # the leak is gone with the reset
    assert status(client, "auth") == "ok"


def test_persistent_leak_comes_back_after_reset(
    client: TestClient, clock: ManualClock, auth: AdminAuth
) -> None:
    client.post("/api/faults/db_pool_leak", json={"rate": 1.0, "persistent": True})
    clock.advance(60)
    assert admin(client, auth, "reset-connections").json()["stopped_faults"] == []
    assert status(client, "database") == "ok"
    clock.advance(40)
    assert status(client, "database") == "degraded"


def test_reset_connections_fails_honestly_while_the_database_is_down(
    client: TestClient, auth: AdminAuth
) -> None:
    client.post("/api/faults/db_outage")
    response = admin(client, auth, "reset-connections")
    assert response.status_code == 503
    assert response.json()["ok"] is False
    assert "database unreachable" in response.json()["detail"]
    assert audit(client, auth)[-1]["outcome"] == "failed"


def test_restart_clears_memory_leak_and_oom(client: TestClient, clock: ManualClock, auth: AdminAuth) -> None:
    client.post("/api/faults/memory_leak", json={"rate": 20.0})
    client.post("/api/faults/db_pool_leak", json={"rate": 0.5})
    clock.advance(60)
    assert status(client, "overall") == "down"
    body = admin(client, auth, "restart-service", {"reason": "OOM"}).json()
    assert body["before"]["oom_killed"] is True
    assert body["after"]["oom_killed"] is False
    assert body["after"]["memory_bytes"] < body["before"]["memory_bytes"] / 2
    assert body["after"]["db_pool_in_use"] == 6
    assert body["after"]["restarts"] == 1
    assert body["undo"] is None
    assert sorted(body["stopped_faults"]) == ["db_pool_leak", "memory_leak"]
    assert status(client, "overall") == "ok"
    assert client.get("/api/faults").json()["active"] == []


def test_failover_switches_provider_and_undo_switches_back(client: TestClient, auth: AdminAuth) -> None:
    client.post("/api/faults/email_outage")
    assert status(client, "email") == "down"
    body = admin(client, auth, "failover", {"channel": "email"}).json()
    assert body["before"]["provider"] == "sendgrid" and body["before"]["up"] is False
    assert body["after"]["provider"] == "mailgun" and body["after"]["up"] is True
    assert status(client, "email") == "ok"
    assert status(client, "sms") == "ok"  # the other channel is untouched
    undo = body["undo"]
    assert undo == {"action": "failover", "body": {"channel": "email", "to": "primary"}}
    assert admin(client, auth, undo["action"], undo["body"]).json()["after"]["provider"] == "sendgrid"
    assert status(client, "email") == "down"
    sms = admin(client, auth, "failover", {"channel": "sms", "to": "secondary"}).json()
    assert sms["after"]["provider"] == "vonage"


def test_scale_raises_capacity_and_undo_restores(
    client: TestClient, clock: ManualClock, auth: AdminAuth
) -> None:
    client.post("/api/faults/db_pool_leak", json={"rate": 1.0, "duration_seconds": 38})
    clock.advance(40)
    assert status(client, "database") == "degraded"  # 44/50
    body = admin(client, auth, "scale-resources").json()
    assert body["before"]["db_pool_size"] == 50 and body["after"]["db_pool_size"] == 75
    assert body["before"]["replicas"] == 2 and body["after"]["replicas"] == 3
    assert status(client, "database") == "ok"  # 44/75
    undo = body["undo"]
    assert undo["action"] == "scale-resources"
    back = admin(client, auth, undo["action"], undo["body"]).json()
    assert back["after"]["db_pool_size"] == 50
    assert status(client, "database") == "degraded"


def test_scale_dampens_auth_overload(client: TestClient, clock: ManualClock, auth: AdminAuth) -> None:
    client.post("/api/faults/auth_overload", json={"rate": 100.0})
    clock.advance(10)
    before = client.get("/api/health/auth").json()["details"]["overload_latency_ms"]
    admin(client, auth, "scale-resources", {"replicas": 4})
    after = client.get("/api/health/auth").json()["details"]["overload_latency_ms"]
    assert after == pytest.approx(before / 2)


def test_scale_refuses_beyond_maxima(client: TestClient, auth: AdminAuth) -> None:
    response = admin(client, auth, "scale-resources", {"db_pool_size": 5000})
    assert response.status_code == 422
    assert "maxima" in response.json()["detail"]


def test_maintenance_on_and_off(client: TestClient, auth: AdminAuth) -> None:
    on = admin(client, auth, "maintenance", {"enabled": True, "reason": "DB upgrade"}).json()
    assert on["before"]["maintenance"] is False and on["after"]["maintenance"] is True
    overall = client.get("/api/health/overall").json()
    assert overall["status"] == "degraded"
    assert any(c["name"] == "maintenance" and c["detail"] == "DB upgrade" for c in overall["checks"])
    assert on["undo"] == {"action": "maintenance", "body": {"enabled": False}}
    off = admin(client, auth, "maintenance", {"enabled": False}).json()
    assert off["changed"] is True
    assert status(client, "overall") == "ok"
    assert admin(client, auth, "maintenance", {"enabled": False}).json()["changed"] is False


def test_rollback_restores_previous_version(client: TestClient, auth: AdminAuth) -> None:
    client.post("/api/faults/bad_deploy")
    assert client.get("/api/health/payments").json()["version"] == "2.4.1"
    assert status(client, "payments") == "degraded"
    body = admin(client, auth, "rollback-deployment").json()
    assert body["before"] == {"version": "2.4.1"}
    assert body["after"]["version"] == "2.4.0"
    payments = client.get("/api/health/payments").json()
    assert payments["version"] == "2.4.0"
    assert payments["status"] == "ok"
    assert body["undo"] == {"action": "rollback-deployment", "body": {"version": "2.4.1"}}


def test_rollback_errors(client: TestClient, auth: AdminAuth) -> None:
    unknown = admin(client, auth, "rollback-deployment", {"version": "0.0.1"})
    assert unknown.status_code == 404
    assert "never deployed" in unknown.json()["detail"]


def test_rollback_with_no_history_is_409(make_app: AppFactory, auth: AdminAuth) -> None:
    client, _ = make_app(previous_versions=[])
    response = admin(client, auth, "rollback-deployment")
    assert response.status_code == 409
    assert "nothing to roll back" in response.json()["detail"]


def test_clear_cache_empties_cache_and_disk_cache(
    client: TestClient, clock: ManualClock, auth: AdminAuth
) -> None:
    client.post("/api/faults/disk_fill", json={"rate": 200.0})
    clock.advance(300)
    client.delete("/api/faults/disk_fill")
    assert status(client, "overall") != "ok"
    body = admin(client, auth, "clear-cache").json()
    assert body["before"]["cache_entries"] > 7000 and body["after"]["cache_entries"] == 0
    assert body["after"]["disk_usage"] == pytest.approx(0.4)
    assert body["before"]["disk_usage"] > 0.85
    assert client.get("/api/health/overall").json()["details"]["cache_hit_rate"] == 0.0
    clock.advance(300)
    assert client.get("/api/health/overall").json()["details"]["cache_hit_rate"] > 0.9  # it warms up again


def test_bad_action_params_are_422(client: TestClient, auth: AdminAuth) -> None:
    missing = admin(client, auth, "failover", {})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["channel"]
    extra = admin(client, auth, "restart-service", {"force": True})
    assert extra.status_code == 422
    bad_json = auth.post(client, "/api/admin/restart-service", b"{nope")
    assert bad_json.status_code == 422


def test_unknown_action_is_404_only_when_signed(client: TestClient, auth: AdminAuth) -> None:
    assert client.post("/api/admin/self-destruct", json={}).status_code == 401
    response = admin(client, auth, "self-destruct")
    assert response.status_code == 404
    assert "unknown admin action 'self-destruct'" in response.json()["detail"]


# ------------------------------------------------------------------ guards


def test_unsigned_requests_are_401_and_audited(client: TestClient, auth: AdminAuth) -> None:
    response = client.post("/api/admin/restart-service", json={})
    assert response.status_code == 401
    assert "must be signed" in response.json()["detail"]
    assert client.get("/api/admin/audit").status_code == 401
    record = audit(client, auth)[-1]
    assert record["action"] == "restart-service"
    assert record["outcome"] == "rejected"
    assert record["status_code"] == 401


def test_stale_requests_are_401(client: TestClient, wall_clock: ManualClock) -> None:
    old = AdminAuth(DEMO_ADMIN_KEY_ID, DEMO_KEY, clock=lambda: wall_clock.now - 301)
    response = admin(client, old, "clear-cache")
    assert response.status_code == 401
    assert "301 s old" in response.json()["detail"]
    future = AdminAuth(DEMO_ADMIN_KEY_ID, DEMO_KEY, clock=lambda: wall_clock.now + 600)
    assert admin(client, future, "clear-cache").status_code == 401
    almost = AdminAuth(DEMO_ADMIN_KEY_ID, DEMO_KEY, clock=lambda: wall_clock.now - 299)
    assert admin(client, almost, "clear-cache").status_code == 200


def test_replayed_request_is_409(client: TestClient, wall_clock: ManualClock, auth: AdminAuth) -> None:
    body = b"{}"
    headers = sign("POST", "/api/admin/restart-service", body, DEMO_ADMIN_KEY_ID, DEMO_KEY, wall_clock())
    headers["content-type"] = "application/json"
    first = client.post("/api/admin/restart-service", content=body, headers=headers)
    assert first.status_code == 200
    wall_clock.advance(5)
    again = client.post("/api/admin/restart-service", content=body, headers=headers)
    assert again.status_code == 409
    assert "replayed" in again.json()["detail"]
    assert client.get("/api/health/overall").json()["details"]["restarts"] == 1  # it ran once
    assert [r["status_code"] for r in audit(client, auth)] == [200, 409]


def test_tampered_body_is_401(client: TestClient, wall_clock: ManualClock) -> None:
    signed_body = json.dumps({"enabled": False}).encode()
    headers = sign("POST", "/api/admin/maintenance", signed_body, DEMO_ADMIN_KEY_ID, DEMO_KEY, wall_clock())
    headers["content-type"] = "application/json"
    response = client.post("/api/admin/maintenance", content=b'{"enabled": true}', headers=headers)
    assert response.status_code == 401
    assert "signature does not match" in response.json()["detail"]
    assert status(client, "overall") == "ok"  # maintenance was not turned on


def test_wrong_key_or_secret_is_401(client: TestClient, wall_clock: ManualClock) -> None:
    stranger = AdminAuth("intruder", DEMO_KEY, clock=wall_clock)
    response = admin(client, stranger, "restart-service")
    assert response.status_code == 401
    assert "unknown or expired admin key id 'intruder'" in response.json()["detail"]
    guesser = AdminAuth(DEMO_ADMIN_KEY_ID, parse_signing_key(generate_key_pair()[0]), clock=wall_clock)
    assert admin(client, guesser, "restart-service").status_code == 401
    # The algorithm follows the stored key: an HMAC "signature" keyed with the public key is refused.
    confused = AdminAuth(DEMO_ADMIN_KEY_ID, HmacKey(DEMO_ADMIN_PUBLIC_KEY), clock=wall_clock)
    assert admin(client, confused, "restart-service").status_code == 401


def test_key_rotation_keeps_old_key_for_the_grace_period(
    make_app: AppFactory, wall_clock: ManualClock, auth: AdminAuth
) -> None:
    client, _ = make_app(admin={"rotation_grace_seconds": 120})
    private, public = generate_key_pair()
    rotated = admin(client, auth, "rotate-keys", {"public_key": public}).json()
    new_key = rotated["new_key"]
    assert rotated["grace_seconds"] == 120
    assert rotated["after"]["valid_keys"] == [DEMO_ADMIN_KEY_ID, new_key["key_id"]]
    assert new_key == {"key_id": new_key["key_id"], "algorithm": "ed25519"}  # no secret made here
    new_auth = AdminAuth(new_key["key_id"], parse_signing_key(private), clock=wall_clock)
    # Both keys work during the grace period...
    wall_clock.advance(119)
    assert admin(client, auth, "clear-cache").status_code == 200
    assert admin(client, new_auth, "clear-cache").status_code == 200
    keys = {k["key_id"]: k for k in new_auth.get(client, "/api/admin/keys").json()["keys"]}
    assert keys[DEMO_ADMIN_KEY_ID]["valid"] is True
    assert keys[DEMO_ADMIN_KEY_ID]["expires_in_seconds"] == pytest.approx(1)
    # ...then only the new one.
    wall_clock.advance(2)
    old = admin(client, auth, "clear-cache")
    assert old.status_code == 401
    assert "expired" in old.json()["detail"]
    assert admin(client, new_auth, "clear-cache").status_code == 200
    keys = {k["key_id"]: k["algorithm"] for k in new_auth.get(client, "/api/admin/keys").json()["keys"]}
    assert keys == {DEMO_ADMIN_KEY_ID: "ed25519", new_key["key_id"]: "ed25519"}


def test_rotation_without_a_public_key_is_refused_once_no_hmac_key_is_left(
    client: TestClient, auth: AdminAuth
) -> None:
    response = admin(client, auth, "rotate-keys")
    assert response.status_code == 422
    assert "public_key" in response.json()["detail"]
    private, _ = generate_key_pair()
    assert (
        admin(client, auth, "rotate-keys", {"public_key": private}).status_code == 422
    )  # never a private key


def test_hmac_deployment_still_rotates_to_a_shown_once_secret(
    make_app: AppFactory, wall_clock: ManualClock
) -> None:
    """An app configured with an HMAC secret (before Ed25519) keeps working, rotation included."""
    legacy = AdminAuth("ops", HmacKey("an-hmac-secret-from-before"), clock=wall_clock)
    client, _ = make_app(admin={"keys": {"ops": "an-hmac-secret-from-before"}})
    rotated = admin(client, legacy, "rotate-keys").json()
    new_key = rotated["new_key"]
    assert new_key["algorithm"] == "hmac-sha256"
    new_auth = AdminAuth(new_key["key_id"], HmacKey(new_key["secret"]), clock=wall_clock)
    assert admin(client, new_auth, "clear-cache").status_code == 200
    # The secret is shown once and never lands in the audit trail.
    assert new_key["secret"] not in json.dumps(audit(client, new_auth))


def test_rate_limit_is_429_with_retry_after(
    make_app: AppFactory, wall_clock: ManualClock, auth: AdminAuth
) -> None:
    client, _ = make_app(admin={"rate_limit_per_minute": 6, "rate_limit_burst": 3})
    codes = [admin(client, auth, "clear-cache").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = admin(client, auth, "clear-cache")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "10"  # one token per 10 s at 6/min
    assert "rate limit" in limited.json()["detail"]
    other = AdminAuth("ops", HmacKey("another-secret-of-enough-length"), clock=wall_clock)
    client2, _ = make_app(
        admin={
            "rate_limit_per_minute": 6,
            "rate_limit_burst": 1,
            "keys": {DEMO_ADMIN_KEY_ID: DEMO_ADMIN_PUBLIC_KEY, "ops": "another-secret-of-enough-length"},
        }
    )
    assert admin(client2, auth, "clear-cache").status_code == 200
    assert admin(client2, auth, "clear-cache").status_code == 429
    assert admin(client2, other, "clear-cache").status_code == 200  # limits are per key
    wall_clock.advance(10)
    assert admin(client, auth, "clear-cache").status_code == 200  # refilled


def test_idempotency_key_runs_an_action_once(client: TestClient, auth: AdminAuth) -> None:
    headers = {"Idempotency-Key": "incident-42/restart/1"}
    first = admin(client, auth, "restart-service", {}, headers)
    second = admin(client, auth, "restart-service", {}, headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert client.get("/api/health/overall").json()["details"]["restarts"] == 1
    reused = admin(client, auth, "clear-cache", {}, headers)
    assert reused.status_code == 422
    assert [r["outcome"] for r in audit(client, auth)] == ["ok", "deduplicated", "rejected"]


def test_audit_records_before_after_and_pages(client: TestClient, auth: AdminAuth) -> None:
    admin(client, auth, "maintenance", {"enabled": True, "reason": "planned"})
    admin(client, auth, "failover", {"channel": "sms"})
    records = audit(client, auth)
    assert [r["action"] for r in records] == ["maintenance", "failover"]
    first = records[0]
    assert first["key_id"] == DEMO_ADMIN_KEY_ID
    assert first["reason"] == "planned"
    assert first["before"] == {"maintenance": False, "reason": None}
    assert first["after"]["maintenance"] is True
    later = auth.get(client, "/api/admin/audit", {"since_id": first["id"]}).json()["records"]
    assert [r["action"] for r in later] == ["failover"]
    assert auth.get(client, "/api/admin/audit", {"limit": 0}).status_code == 422


def test_oversized_admin_body_is_413(client: TestClient, auth: AdminAuth) -> None:
    response = admin(client, auth, "maintenance", {"enabled": True, "reason": "x" * 70_000})
    assert response.status_code == 413
    assert "body over" in response.json()["detail"]
