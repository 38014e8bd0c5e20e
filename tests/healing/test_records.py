"""An executor decision becomes the actions topic's message through one conversion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forewarn.events import ActionEvent
from forewarn.healing.records import ActionDecision

pytestmark = pytest.mark.unit


def _decision(**fields: object) -> ActionDecision:
    base: dict[str, object] = {
        "trigger_id": "det-1",
        "group_id": "inc-1",
        "service": "database",
        "issue_class": "connection_pool_exhaustion",
        "mode": "auto",
        "status": "succeeded",
        "at": 1_800_000_000.0,
    }
    return ActionDecision.model_validate({**base, **fields})


def test_a_step_is_keyed_by_its_idempotency_key_and_keeps_its_fields() -> None:
    event = _decision(action="restart_pool", idempotency_key="inc-1:restart_pool:0", step=0).to_event()
    assert event.id == "inc-1:restart_pool:0" and event.incident_id == "inc-1" and event.step == 0
    assert event.timestamp == datetime.fromtimestamp(1_800_000_000.0, UTC)
    assert ActionEvent.model_validate_json(event.to_json_bytes()) == event


def test_a_decision_without_an_action_is_keyed_by_trigger_and_status() -> None:
    event = _decision(status="no_policy").to_event()
    assert (event.id, event.action) == ("det-1:no_policy", "decision")
