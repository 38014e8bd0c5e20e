"""Issue #15: the REST API as found from outside, through the real app (TestClient, real SQLite store).

Body size limit (413 before the body is read), authentication before validation on every route,
error replies that never echo the input nor a stack trace, finite and bounded action params, known
actions only, a token bucket per key (429 + Retry-After) and the security headers.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from forewarn.api.app import create_app
from forewarn.api.healing_adapter import QueuedControl
from forewarn.healing.config import load_config
from forewarn.healing.kill_switch import KillSwitch
from forewarn.settings import ApiSettings, Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind, parse_record
from tests.api.conftest import ADMIN_KEY, READ_KEY
from tests.api.doubles import pending_action, queued_control

pytestmark = pytest.mark.unit

READ = {"X-API-Key": READ_KEY}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TRIGGER = {"service": "email", "action": "failover_email", "reason": "provider down"}


def _app(store: Store, tmp_path: Path, healing: QueuedControl | None = None, **api: Any) -> FastAPI:
    settings = Settings(api=ApiSettings(read_keys=[READ_KEY], admin_keys=[ADMIN_KEY], **api))
    control = healing if healing is not None else queued_control(store, tmp_path)
    return create_app(store, settings, registry=CollectorRegistry(), healing=control)


@pytest.fixture
def app(store: Store, tmp_path: Path) -> FastAPI:
    return _app(store, tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


# ------------------------------------------------------------------ 1. body size


def test_a_body_over_the_limit_is_413_and_never_queued(client: TestClient, store: Store) -> None:
    huge = {**TRIGGER, "params": {"blob": "x" * 10_000_000}}
    response = client.post("/v1/actions", headers=ADMIN, json=huge)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body over 65536 bytes (the limit); send less"}
    assert store.control.pending() == []
    # Checked before anything else, so an unauthenticated caller gets it too (nothing is read).
    assert client.post("/v1/actions", json=huge).status_code == 413


def test_a_streamed_body_is_counted_as_it_arrives(store: Store, tmp_path: Path) -> None:
    app = _app(store, tmp_path, max_body_bytes=2048)

    def chunks(total: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        body = ('{"service":"email","action":"failover_email","reason":"' + "r" * total + '"}').encode()
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    headers = {**ADMIN, "content-type": "application/json"}
    with TestClient(app) as client:
        over = client.post("/v1/actions", headers=headers, content=chunks(3000))
        assert "content-length" not in over.request.headers
        assert over.status_code == 413 and "2048 bytes" in over.json()["detail"], over.json()
        under = client.post("/v1/actions", headers=headers, content=chunks(500))
        assert under.status_code == 202, under.json()
    assert [r["target"] for r in store.control.pending()] == ["email"]


# ------------------------------------------------------------------ 2. authentication first


def _calls(app: FastAPI) -> Iterator[tuple[str, str, bool]]:
    """(method, path with its ids filled, admin only?) for every /v1 operation the app documents."""
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/v1"):
            for method in sorted(operations):
                yield method.upper(), re.sub(r"\{[^}]+\}", "some-id", path), method != "get"


def test_every_route_checks_the_key_before_it_reads_the_request(app: FastAPI, client: TestClient) -> None:
    calls = list(_calls(app))
    assert len(calls) >= 15 and sum(admin for *_, admin in calls) == 4  # trigger, kill switch, approve, deny
    junk, as_json = b"{not json", {"content-type": "application/json"}
    bad_query = {"limit": "many", "since": "yesterday"}
    for method, path, admin_only in calls:
        anonymous = client.request(method, path, params=bad_query, content=junk, headers=as_json)
        assert anonymous.status_code == 401, (method, path, anonymous.json())
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        wrong = client.request(method, path, params=bad_query, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401, (method, path)
        as_reader = client.request(method, path, params=bad_query, content=junk, headers={**READ, **as_json})
        if admin_only:
            assert as_reader.status_code == 403, (method, path, as_reader.json())
        else:  # past the key: the request is read (422 bad query, 404 made-up id, 200 no params)
            assert as_reader.status_code in (200, 404, 422), (method, path, as_reader.json())


# ------------------------------------------------------------------ 3. error replies


def test_error_replies_never_echo_the_input(client: TestClient) -> None:
    big = "x" * 60_000
    missing = client.get(f"/v1/actions/{big}", headers=READ)
    assert missing.status_code == 404 and len(missing.content) < 400
    assert missing.json()["detail"].startswith("no action with id 'xxx")
    invalid = client.get("/v1/forecasts", params={"limit": big}, headers=READ)
    assert invalid.status_code == 422 and len(invalid.content) < 400
    assert invalid.json() == {
        "detail": [
            {
                "loc": ["query", "limit"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "type": "int_parsing",
            }
        ]
    }
    body = client.post("/v1/actions", headers=ADMIN, json={**TRIGGER, "service": "y" * 50_000})
    assert body.status_code == 422 and "yyyy" not in body.text and "input" not in body.json()["detail"][0]


def test_a_crash_is_a_500_with_a_request_id_and_no_stack_trace(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(store, "page", broken)
    with caplog.at_level(logging.ERROR, logger="forewarn.api.app"):
        response = client.get("/v1/detections", headers=READ)
    assert response.status_code == 500
    ident = response.headers["X-Request-ID"]
    assert response.json() == {"detail": f"internal error (request id {ident})"}
    assert "hunter2" not in response.text and "Traceback" not in response.text
    [record] = [r for r in caplog.records if ident in r.getMessage()]
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


# ------------------------------------------------------------------ 4. params and actions


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ('{"rate": NaN}', "finite JSON"),
        ('{"rate": Infinity}', "finite JSON"),
        ('{"rates": [1, -Infinity]}', "finite JSON"),
        ('{"a": {"b": {"c": {"d": {"e": {"f": {}}}}}}}', "deeper than 6 levels"),
        ('{"note": "' + "n" * 9000 + '"}', "over 8192 bytes"),
    ],
)
def test_params_must_be_finite_bounded_json(client: TestClient, store: Store, params: str, why: str) -> None:
    body = '{"service": "email", "action": "failover_email", "reason": "r", "params": ' + params + "}"
    response = client.post("/v1/actions", headers={**ADMIN, "content-type": "application/json"}, content=body)
    assert response.status_code == 422, response.json()
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "params"] and why in error["msg"]
    assert store.control.pending() == []


def test_params_with_too_many_keys_are_refused_and_fine_ones_pass(client: TestClient) -> None:
    many = {f"k{i}": i for i in range(33)}
    assert client.post("/v1/actions", headers=ADMIN, json={**TRIGGER, "params": many}).status_code == 422
    fine = {"to": "backup", "weights": [0.5, 1.5], "nested": {"a": {"b": {"c": {"d": 1}}}}}
    accepted = client.post("/v1/actions", headers=ADMIN, json={**TRIGGER, "params": fine})
    assert accepted.status_code == 202 and accepted.json()["payload"]["params"] == fine
    assert math.isfinite(accepted.json()["payload"]["params"]["weights"][1])


def test_only_actions_the_shipped_healing_config_runs_may_be_triggered(store: Store, tmp_path: Path) -> None:
    known = load_config().action_names()  # what `forewarn api --healing` passes
    assert {"provider-failover", "clear-cache"} <= known and "rm-rf" not in known
    control = QueuedControl(store, KillSwitch(tmp_path / "ks.json"), mode="approve", known_actions=known)
    with TestClient(_app(store, tmp_path, healing=control)) as client:
        unknown = client.post("/v1/actions", headers=ADMIN, json={**TRIGGER, "action": "rm-rf"})
        assert unknown.status_code == 409
        assert "unknown action 'rm-rf'" in unknown.json()["detail"]
        assert "provider-failover" in unknown.json()["detail"]
        ok = client.post("/v1/actions", headers=ADMIN, json={**TRIGGER, "action": "provider-failover"})
        assert ok.status_code == 202
    assert [r["payload"]["action"] for r in store.control.pending()] == ["provider-failover"]


# ------------------------------------------------------------------ 5. rate limit, authorization, headers


def test_each_key_has_its_own_token_bucket(store: Store, tmp_path: Path) -> None:
    app = _app(store, tmp_path, rate_limit_per_minute=60.0, rate_limit_burst=3)
    with TestClient(app) as client:
        codes = [client.get("/v1/health", headers=READ).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/v1/health", headers=READ)
        assert limited.headers["Retry-After"] == "1" and "rate limit" in limited.json()["detail"]
        assert client.get("/v1/health", headers=ADMIN).status_code == 200  # another key, another bucket
        # Guessing keys is slowed too: wrong keys share the caller address's bucket.
        guesses = [client.get("/v1/health", headers={"X-API-Key": f"g{i}"}).status_code for i in range(4)]
        assert guesses == [401, 401, 401, 429]


def test_a_read_key_may_read_but_not_act_on_an_action(client: TestClient, store: Store) -> None:
    store.upsert(
        Kind.ACTION, [parse_record(Kind.ACTION, pending_action("act-9", "database", "restart_pool"))]
    )
    assert client.get("/v1/actions/act-9", headers=READ).json()["status"] == "pending_approval"
    assert client.post("/v1/actions/act-9/approve", headers=READ, json={}).status_code == 403
    assert client.post("/v1/actions/act-9/deny", headers=READ, json={"reason": "no"}).status_code == 403
    assert (
        client.put("/v1/actions/kill-switch", headers=READ, json={"engaged": True, "reason": "x"}).status_code
        == 403
    )
    assert store.control.pending() == []
    assert client.post("/v1/actions/act-9/approve", headers=ADMIN, json={}).status_code == 202


def test_replies_carry_the_security_headers(client: TestClient) -> None:
    for response in (
        client.get("/v1/health", headers=READ),
        client.get("/v1/health"),  # a 401 too
        client.post("/v1/actions", headers=ADMIN, content=b"x" * 70_000),  # and a 413
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    public = client.get("/openapi.json")
    assert public.headers["X-Content-Type-Options"] == "nosniff" and "Cache-Control" not in public.headers


def test_the_openapi_documents_the_limits(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    trigger = spec["paths"]["/v1/actions"]["post"]["responses"]
    assert {"413", "429", "401", "403"} <= set(trigger)
    assert "Retry-After" in spec["paths"]["/v1/forecasts"]["get"]["responses"]["429"]["headers"]
    params = spec["components"]["schemas"]["TriggerIn"]["properties"]["params"]
    assert params["maxProperties"] == 32 and "NaN" in params["description"]
    assert "api.max_body_bytes" in spec["info"]["description"]
