"""The healing control the API tests use, and a test double of the LLM budget.

The control is the real one (``forewarn.api.healing_adapter.QueuedControl``): requests go to the
test's real store and the kill switch to a file in the test's temp dir; only the list of known
actions is the test's own, so the "unknown action" answer does not depend on the shipped registry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from forewarn.api.healing_adapter import QueuedControl
from forewarn.events import ActionEvent
from forewarn.healing.kill_switch import KillSwitch
from forewarn.store.db import Store

KNOWN_ACTIONS = {"restart_pool", "failover_email", "failover_sms", "scale_workers"}


def queued_control(store: Store, folder: Path, mode: str = "approve") -> QueuedControl:
    return QueuedControl(
        store, KillSwitch(folder / "kill-switch.json"), mode=mode, known_actions=KNOWN_ACTIONS
    )


def pending_action(ident: str, service: str, action: str) -> dict[str, object]:
    """An action record waiting for approval, as the actions topic would carry it."""
    return ActionEvent(
        id=ident,
        service=service,
        timestamp=datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        incident_id=ident,
        trigger_id=ident,
        issue_class="manual",
        mode="approve",
        status="pending_approval",
        action=action,
        detail="predicted pool exhaustion",
    ).model_dump(mode="json")


class FakeBudget:
    def __init__(self, left: float) -> None:
        self.left = left

    def remaining_usd(self) -> float | None:
        return self.left
