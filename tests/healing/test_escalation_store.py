"""Open escalation ladders kept in the state store: restored with the current config's policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from forewarn.healing.audit import AuditLog
from forewarn.healing.clock import ManualClock
from forewarn.healing.config import EscalationStep, NotificationConfig, Policy
from forewarn.healing.escalation import Escalator
from forewarn.healing.notify import NotificationRouter
from forewarn.healing.state import LadderRow, StateStore

pytestmark = pytest.mark.unit

NOTE = {"title": "t", "summary": "s", "service": "email", "severity": "critical", "group_key": "g"}


def _escalator(tmp_path: Path, store: StateStore, policies: dict[str, Policy]) -> Escalator:
    clock = ManualClock(1_800_000_000.0)
    router = NotificationRouter(NotificationConfig(), {}, clock)
    return Escalator(router, AuditLog(tmp_path / "audit.jsonl", clock=clock), clock, "test", store, policies)


def test_a_ladder_is_restored_with_its_levels_or_dropped_when_its_policy_no_longer_climbs(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.save_ladder(LadderRow("g", 1.0, "paging", [0], NOTE))
    store.save_ladder(LadderRow("gone", 2.0, "removed", [0], {**NOTE, "group_key": "gone"}))
    store.save_ladder(LadderRow("quiet", 3.0, "no-ladder", [], {**NOTE, "group_key": "quiet"}))
    paging = Policy.model_validate(
        {"name": "paging", "trigger": {}, "escalation": [{"after_seconds": 0, "notify": ["x"]}]}
    )
    no_ladder = Policy.model_validate({"name": "no-ladder", "trigger": {}})
    escalator = _escalator(tmp_path, store, {"paging": paging, "no-ladder": no_ladder})
    assert sorted(escalator._ladders) == ["g"]
    assert escalator._ladders["g"].sent_levels == {0} and escalator._ladders["g"].policy.escalation == [
        EscalationStep(after_seconds=0, notify=["x"])
    ]
    assert [row.group_key for row in store.ladders()] == ["g"]  # the others are gone from the store too
    store.close()
