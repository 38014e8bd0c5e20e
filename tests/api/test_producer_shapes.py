"""The store and API accept what the real producers publish: forecast events, action records, incidents.

Why: the store holds each topic's messages to that topic's one schema (``forewarn.events``) and indexes
them; these tests build messages with the producers' own code, so a producer and the store cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from forewarn.api.app import create_app
from forewarn.events import ForecastEvent
from forewarn.healing.records import ActionDecision
from forewarn.settings import ApiSettings, Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind, parse_record
from tests.api.conftest import READ_KEY
from tests.api.factories import T0

pytestmark = pytest.mark.unit
READ = {"X-API-Key": READ_KEY}


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    app = create_app(
        store,
        Settings(api=ApiSettings(read_keys=[READ_KEY])),
        registry=CollectorRegistry(),
        clock=(T0 + timedelta(minutes=10)).timestamp,
    )
    with TestClient(app) as test_client:
        yield test_client


def test_pipeline_forecast_events(store: Store, client: TestClient) -> None:
    event = ForecastEvent(
        id=ForecastEvent.make_id("database/db_pool_in_use", 900.0, T0),
        service="database",
        series="database/db_pool_in_use",
        metric="db_pool_in_use",
        model="trend",
        timestamp=T0,
        generated_at=T0 + timedelta(seconds=1),
        current_value=17.0,
        horizon_seconds=900.0,
        point=19.5,
        lower=18.0,
        upper=21.0,
        interval_level=0.9,
        threshold=20.0,
        breach_probability=0.62,
        time_to_exhaustion_seconds=700.0,
        time_to_exhaustion_lower=500.0,
        time_to_exhaustion_upper=1100.0,
        confidence=0.5,
    )
    raw = event.to_json_bytes()
    store.upsert(Kind.FORECAST, [parse_record(Kind.FORECAST, raw), parse_record(Kind.FORECAST, raw)])
    body = client.get("/v1/forecasts", params={"service": "database", "horizon": "15m"}, headers=READ).json()
    assert body["total"] == 1
    item = body["items"][0]
    assert item["id"] == event.id and item["metric"] == "db_pool_in_use"
    assert item["series"] == "database/db_pool_in_use" and item["current_value"] == 17.0
    assert item["time_to_exhaustion_upper"] == 1100.0 and item["age_seconds"] == pytest.approx(600.0)


def _record(status: str, at: float, action: str | None = "restart_pool") -> ActionDecision:
    return ActionDecision(
        trigger_id="det-1",
        group_id="inc-1",
        service="database",
        issue_class="connection_pool_exhaustion",
        mode="approve",
        status=status,
        policy="pool-leak",
        step=0,
        action=action,
        idempotency_key="inc-1:restart_pool:0",
        detail="waiting for approval inc-1:pool-leak",
        result={"approval_id": "inc-1:pool-leak"},
        at=at,
    )


def test_responder_action_events_progress_in_place(store: Store, client: TestClient) -> None:
    pending = _record("pending_approval", T0.timestamp()).to_event()
    done = _record("succeeded", T0.timestamp() + 60).to_event()
    store.upsert(Kind.ACTION, [parse_record(Kind.ACTION, pending)])
    listed = client.get("/v1/actions/pending", headers=READ).json()
    assert [a["status"] for a in listed["items"]] == ["pending_approval"]
    assert listed["items"][0]["incident_id"] == "inc-1"
    store.upsert(Kind.ACTION, [parse_record(Kind.ACTION, done)])
    assert client.get("/v1/actions/pending", headers=READ).json()["total"] == 0
    history = client.get("/v1/actions", headers=READ).json()
    assert history["total"] == 1 and history["items"][0]["status"] == "succeeded"


def test_action_events_of_decisions_without_an_action(store: Store, client: TestClient) -> None:
    decision = _record("no_policy", T0.timestamp(), action=None).to_event()
    store.upsert(Kind.ACTION, [parse_record(Kind.ACTION, decision)])
    item = client.get("/v1/actions", headers=READ).json()["items"][0]
    assert item["action"] == "decision" and item["status"] == "no_policy"
    assert item["detail"] == "waiting for approval inc-1:pool-leak"
