"""Approve, deny, trigger and the kill switch across two processes, over the REAL store and executor.

Two objects stand for the two processes: the API (``create_app`` with ``QueuedControl`` over its own
``Store``) and the responder (the real ``Responder`` owning the real ``HealingExecutor`` in approve
mode, reading requests through a *second* ``Store`` on the same SQLite file). The executor, its
guards, approvals, kill switch file and audit log are the real ones; only the action is the healing
suite's recording double, so nothing outside the test is touched. What the responder publishes is
upserted into the store as the sink would after the Kafka round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from forewarn.api.app import create_app
from forewarn.api.control import HealingControl
from forewarn.api.healing_adapter import QueuedControl
from forewarn.healing.clock import ManualClock
from forewarn.healing.control import ControlApplier
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.kill_switch import KillSwitch
from forewarn.healing.paths import HealingPaths
from forewarn.incidents.responder import Responder
from forewarn.incidents.tracker import IncidentTracker
from forewarn.settings import ApiSettings, Settings, TopicSettings
from forewarn.store.db import Store, make_engine
from forewarn.store.records import Kind, parse_record
from tests.api.conftest import ADMIN_KEY
from tests.healing.fakes import Recorder, config, registry_with_fakes
from tests.healing.helpers import detection

pytestmark = pytest.mark.unit
ADMIN = {"X-API-Key": ADMIN_KEY}


@dataclass
class Processes:
    client: TestClient  # the API process
    api_store: Store
    responder: Responder  # the responder process, which alone owns the executor
    executor: HealingExecutor
    published: list[tuple[str, str, bytes]]
    fix: Recorder
    clock: ManualClock

    def sink(self) -> None:
        """What the store sink does with the actions topic: upsert every published action."""
        actions = [json.loads(v) for t, _, v in self.published if t == TopicSettings().actions]
        self.api_store.upsert(Kind.ACTION, [parse_record(Kind.ACTION, a) for a in actions])
        self.published.clear()

    def pending(self, service: str) -> str:
        [record] = self.executor.handle(detection(self.clock, service))
        assert record.status == "pending_approval"
        event = record.to_event()
        self.api_store.upsert(Kind.ACTION, [parse_record(Kind.ACTION, event)])
        return event.id

    def request(self, request_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/actions/requests/{request_id}", headers=ADMIN)
        assert response.status_code == 200, response.json()
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    paths = HealingPaths.under(tmp_path / "healing")
    clock = ManualClock(1_800_000_000.0)
    # The responder process: its own store connection, the executor, the applier on its tick.
    responder_store = Store(make_engine(url))
    registry, fix, _, _ = registry_with_fakes()
    executor = HealingExecutor(config(registry), paths, clock=clock, registry=registry, global_mode="approve")
    published: list[tuple[str, str, bytes]] = []
    responder = Responder(
        TopicSettings(),
        executor=executor,
        tracker=IncidentTracker(),
        publish=lambda topic, key, value: published.append((topic, key, value)),
        requests=ControlApplier(executor, responder_store.control, clock.now),
    )
    # The API process: another store connection, the kill switch file, no executor.
    api_store = Store(make_engine(url))
    control = QueuedControl(api_store, KillSwitch(paths.kill_switch_file), mode="approve")
    assert isinstance(control, HealingControl)
    app = create_app(
        api_store,
        Settings(api=ApiSettings(admin_keys=[ADMIN_KEY])),
        registry=CollectorRegistry(),
        healing=control,
        clock=clock.now,
    )
    with TestClient(app) as client:
        yield Processes(client, api_store, responder, executor, published, fix, clock)
    executor.close()
    api_store.close()
    responder_store.close()


def test_approve_is_queued_then_applied_by_the_responder(processes: Processes) -> None:
    p = processes
    action_id = p.pending("email")
    pending = p.client.get("/v1/actions/pending", headers=ADMIN).json()
    assert [a["id"] for a in pending["items"]] == [action_id]
    response = p.client.post(f"/v1/actions/{action_id}/approve", headers=ADMIN, json={})
    assert response.status_code == 202, response.json()
    request_id = response.json()["id"]
    assert response.json()["status"] == "pending" and p.fix.runs == []  # the API process runs nothing
    assert p.request(request_id)["status"] == "pending"

    p.responder.tick()  # the responder's tick applies the request through its executor
    assert len(p.fix.runs) == 1 and p.fix.runs[0][0] == "email"
    outcome = p.request(request_id)
    assert outcome["status"] == "applied" and outcome["result"]["status"] == "succeeded"
    p.sink()
    assert p.client.get(f"/v1/actions/{action_id}", headers=ADMIN).json()["status"] == "succeeded"
    assert p.client.get("/v1/actions/pending", headers=ADMIN).json()["total"] == 0
    again = p.client.post(f"/v1/actions/{action_id}/approve", headers=ADMIN, json={})
    assert again.status_code == 409 and "not waiting for approval" in again.json()["detail"]
    p.responder.tick()  # nothing pending: nothing runs twice
    assert len(p.fix.runs) == 1
    approvals = [r for r in p.executor.audit.records() if r.event == "approval"]
    assert approvals and approvals[-1].actor.startswith("admin-key-")


def test_deny_is_applied_and_runs_nothing(processes: Processes) -> None:
    p = processes
    action_id = p.pending("email")
    response = p.client.post(f"/v1/actions/{action_id}/deny", headers=ADMIN, json={"reason": "maintenance"})
    assert response.status_code == 202 and response.json()["status"] == "pending"
    p.responder.tick()
    assert p.request(response.json()["id"])["status"] == "applied"
    p.sink()
    denied = p.client.get(f"/v1/actions/{action_id}", headers=ADMIN).json()
    assert denied["status"] == "denied" and denied["detail"] == "maintenance"
    assert denied["decided_by"].startswith("admin-key-")
    assert p.fix.runs == [] and p.executor.pending_approvals() == []
    assert p.client.post("/v1/actions/unknown/approve", headers=ADMIN, json={}).status_code == 404


def test_a_request_for_a_decided_approval_is_refused_with_the_reason(processes: Processes) -> None:
    p = processes
    action_id = p.pending("email")
    approve = p.client.post(f"/v1/actions/{action_id}/approve", headers=ADMIN, json={}).json()
    deny = p.client.post(f"/v1/actions/{action_id}/deny", headers=ADMIN, json={"reason": "late"}).json()
    p.responder.tick()  # applied in the order they were made: the approval wins, the denial is refused
    assert p.request(approve["id"])["status"] == "applied"
    refused = p.request(deny["id"])
    assert refused["status"] == "refused" and "not waiting for approval" in refused["result"]["error"]
    assert len(p.fix.runs) == 1


def test_kill_switch_set_by_the_api_stops_the_responders_executor(processes: Processes) -> None:
    p = processes
    action_id = p.pending("email")
    response = p.client.put(
        "/v1/actions/kill-switch", headers=ADMIN, json={"engaged": True, "reason": "review"}
    )
    assert response.json() == {"engaged": True, "executor_mode": "approve"}
    assert p.executor.kill_switch.engaged()  # the other process sees the file
    request_id = p.client.post(f"/v1/actions/{action_id}/approve", headers=ADMIN, json={}).json()["id"]
    p.responder.tick()
    outcome = p.request(request_id)
    assert outcome["status"] == "applied" and outcome["result"]["status"] == "rejected"  # a guard said no
    assert p.fix.runs == []
    released = p.client.put(
        "/v1/actions/kill-switch", headers=ADMIN, json={"engaged": False, "reason": "done"}
    )
    assert released.json()["engaged"] is False and not p.executor.kill_switch.engaged()


def test_manual_trigger_is_decided_by_the_responders_policies(processes: Processes) -> None:
    p = processes
    body = {"service": "email", "action": "fake-fix", "reason": "provider down"}
    headers = {**ADMIN, "Idempotency-Key": "op-7"}
    first = p.client.post("/v1/actions", headers=headers, json=body)
    retry = p.client.post("/v1/actions", headers=headers, json=body)
    assert first.status_code == retry.status_code == 202 and first.json()["id"] == retry.json()["id"]
    p.responder.tick()
    outcome = p.request(first.json()["id"])
    # The test config has no policy for manual triggers: the executor decides, the request says so.
    assert outcome["status"] == "applied" and outcome["result"]["status"] == "no_policy"
    p.sink()
    [decision] = p.api_store.page(Kind.ACTION, filters={"status": "no_policy"}).items
    assert decision["service"] == "email" and decision["trigger_id"].startswith("manual-")
