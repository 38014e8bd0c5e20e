"""The API over the REAL healing executor (approve mode, a fake action): approve, deny, kill switch.

The executor, its guards, approvals store, kill switch file and audit log are the real ones; only the
action is the healing suite's recording double, so nothing outside the test is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from forewarn.api.app import create_app
from forewarn.api.control import HealingControl
from forewarn.api.healing_adapter import ExecutorControl
from forewarn.healing.clock import ManualClock
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.paths import HealingPaths
from forewarn.settings import ApiSettings, Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind, parse_record
from tests.api.conftest import ADMIN_KEY
from tests.healing.fakes import config, registry_with_fakes
from tests.healing.helpers import detection

pytestmark = pytest.mark.unit
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture
def wired(tmp_path: Path, store: Store) -> Iterator[tuple[TestClient, HealingExecutor, Any, ManualClock]]:
    clock = ManualClock(1_800_000_000.0)
    registry, fix, _, _ = registry_with_fakes()
    executor = HealingExecutor(
        config(registry),
        HealingPaths.under(tmp_path / "healing"),
        clock=clock,
        registry=registry,
        global_mode="approve",
    )
    control = ExecutorControl(executor, lookup=lambda ident: store.get(Kind.ACTION, ident), clock=clock.now)
    assert isinstance(control, HealingControl)
    app = create_app(
        store,
        Settings(api=ApiSettings(admin_keys=[ADMIN_KEY])),
        registry=CollectorRegistry(),
        healing=control,
        clock=clock.now,
    )
    with TestClient(app) as client:
        yield client, executor, fix, clock
    executor.close()


def _pending(store: Store, executor: HealingExecutor, clock: ManualClock, service: str) -> str:
    [record] = executor.handle(detection(clock, service))
    assert record.status == "pending_approval"
    event = record.to_event()
    store.upsert(Kind.ACTION, [parse_record(Kind.ACTION, event)])
    return event.id


def test_approve_through_the_api_runs_the_action(wired: Any, store: Store) -> None:
    client, executor, fix, clock = wired
    action_id = _pending(store, executor, clock, "email")
    pending = client.get("/v1/actions/pending", headers=ADMIN).json()
    assert [a["id"] for a in pending["items"]] == [action_id]
    response = client.post(f"/v1/actions/{action_id}/approve", headers=ADMIN, json={})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "succeeded"
    assert len(fix.runs) == 1 and fix.runs[0][0] == "email"
    assert client.get("/v1/actions/pending", headers=ADMIN).json()["total"] == 0
    again = client.post(f"/v1/actions/{action_id}/approve", headers=ADMIN, json={})
    assert again.status_code == 409 and "not waiting for approval" in again.json()["detail"]
    approvals = [r for r in executor.audit.records() if r.event == "approval"]
    assert approvals and approvals[-1].actor.startswith("admin-key-")


def test_deny_through_the_api_runs_nothing(wired: Any, store: Store) -> None:
    client, executor, fix, clock = wired
    action_id = _pending(store, executor, clock, "email")
    response = client.post(f"/v1/actions/{action_id}/deny", headers=ADMIN, json={"reason": "maintenance"})
    assert response.status_code == 200 and response.json()["status"] == "denied"
    assert fix.runs == [] and executor.pending_approvals() == []
    assert client.post("/v1/actions/unknown/approve", headers=ADMIN, json={}).status_code == 404


def test_kill_switch_through_the_api_stops_healing(wired: Any, store: Store) -> None:
    client, executor, fix, clock = wired
    action_id = _pending(store, executor, clock, "email")
    response = client.put(
        "/v1/actions/kill-switch", headers=ADMIN, json={"engaged": True, "reason": "review"}
    )
    assert response.json() == {"engaged": True, "executor_mode": "approve"}
    assert executor.kill_switch.engaged()
    approved = client.post(f"/v1/actions/{action_id}/approve", headers=ADMIN, json={})
    assert approved.status_code == 200 and approved.json()["status"] == "rejected"  # a guard said no
    assert fix.runs == []
    released = client.put("/v1/actions/kill-switch", headers=ADMIN, json={"engaged": False, "reason": "done"})
    assert released.json()["engaged"] is False and not executor.kill_switch.engaged()
