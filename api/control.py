"""What the API needs from the healing engine and the LLM layer: small Protocols the lead wires.

Why Protocols here rather than imports of ``forewarn.healing``: the API must work (read-only) when
no healing engine runs in its process, and tests drive the endpoints with a test double. The healing
engineer's executor implements :class:`HealingControl`; the incidents layer implements
:class:`LlmBudget`. Both are optional in :func:`forewarn.api.app.create_app`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from forewarn.events import ActionEvent

__all__ = ["ActionNotFound", "ActionRejected", "ControlError", "HealingControl", "LlmBudget"]


class ControlError(Exception):
    """Base of what a :class:`HealingControl` may raise; the API turns each into a clear 4xx."""


class ActionNotFound(ControlError, LookupError):
    """No pending action with that id (404)."""


class ActionRejected(ControlError):
    """The engine refused: a guard, the kill switch, an unknown action, or the action is not pending (409)."""


@runtime_checkable
class HealingControl(Protocol):
    """Operator verbs on the healing engine. Each returns the action record, as the actions topic has it."""

    def approve(self, action_id: str, *, actor: str) -> ActionEvent: ...

    def deny(self, action_id: str, *, actor: str, reason: str) -> ActionEvent: ...

    def trigger(
        self, service: str, action: str, params: Mapping[str, Any], *, actor: str, reason: str
    ) -> ActionEvent: ...

    def set_kill_switch(self, engaged: bool, *, actor: str, reason: str) -> bool: ...

    def kill_switch_engaged(self) -> bool: ...

    def executor_mode(self) -> str: ...


@runtime_checkable
class LlmBudget(Protocol):
    """How much LLM spend is left in the current budget period (None: no budget configured)."""

    def remaining_usd(self) -> float | None: ...
