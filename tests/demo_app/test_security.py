"""Issue #15's OWASP pass on the demo app: function-level auth, body limit, headers, no stack traces.

Through the real app (TestClient): every admin route refuses an unsigned call, a body over the limit
is refused with 413 before the signature is even looked at (a streamed one included), replies carry
the security headers (admin replies are never cached) and a crash answers a request id, not the error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forewarn.musobuddy.app import MAX_BODY_BYTES, create_app
from forewarn.musobuddy.applog import AppLog

from .conftest import AdminAuth, AppFactory, ManualClock, fast_config, muso

pytestmark = pytest.mark.unit


def test_every_admin_route_refuses_an_unsigned_call(make_app: AppFactory) -> None:
    client, app = make_app()
    admin_calls = [
        (method.upper(), re.sub(r"\{[^}]+\}", "restart-service", path))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/admin")
        for method in operations
    ]
    assert len(admin_calls) == 3
    for method, path in admin_calls:
        response = client.request(
            method, path, content=b"{junk", headers={"content-type": "application/json"}
        )
        assert response.status_code == 401, (method, path)
        assert response.headers["Cache-Control"] == "no-store"


def _chunks(size: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
    body = json.dumps({"enabled": True, "reason": "r" * size}).encode()
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


def test_a_body_over_the_limit_is_413_before_the_signature(client: TestClient, auth: AdminAuth) -> None:
    streamed = client.post("/api/admin/maintenance", content=_chunks(MAX_BODY_BYTES))
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413 and "65536 bytes" in streamed.json()["detail"]
    # The fault routes (no signature at all) are bounded the same way, and nothing is injected.
    fault = client.post("/api/faults/db_outage", json={"rate": 1.0, "note": "n" * MAX_BODY_BYTES})
    assert fault.status_code == 413
    assert client.get("/api/faults").json()["active"] == []
    small = auth.post(client, "/api/admin/maintenance", json.dumps({"enabled": True, "reason": "r"}).encode())
    assert small.status_code == 200


def test_replies_carry_the_security_headers(client: TestClient, auth: AdminAuth) -> None:
    health = client.get("/api/health/auth")
    keys = auth.get(client, "/api/admin/keys")
    assert keys.status_code == 200
    for response in (health, keys):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert keys.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in health.headers  # public health may be cached by a proxy


def test_a_crash_answers_a_request_id_not_the_error(
    tmp_path: Path, clock: ManualClock, wall_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AppLog(
        path=tmp_path / "app.log", stream=None, level="INFO", service="musobuddy", wall_clock=wall_clock
    )
    app = create_app(fast_config(), clock, wall_clock=wall_clock, log=log)

    def broken() -> None:
        raise RuntimeError("secret=hunter2")

    monkeypatch.setattr(muso(app).simulation, "snapshot", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/state")
    assert response.status_code == 500
    ident = response.headers["X-Request-ID"]
    assert response.json() == {"detail": f"internal error (request id {ident})"}
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    log.close()
    logged = (tmp_path / "app.log").read_text()
    assert f"request {ident}: unhandled RuntimeError" in logged and "hunter2" in logged
