"""What the API needs from the healing engine and the LLM layer: small Protocols the lead wires.

Why Protocols here rather than imports of ``forewarn.healing``: the API must work (read-only) when
no healing control is attached, and tests may drive the endpoints with a test double. The API process
never runs the executor: :class:`HealingControl`'s verbs only *queue* a request (approve, deny, manual
trigger) for the process that owns the executor, ``forewarn respond``, and return it pending
(``forewarn.api.healing_adapter.QueuedControl`` writes them to the state store). The kill switch is a
file every process reads, so it is set directly. The incidents layer implements :class:`LlmBudget`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["ActionNotFound", "ActionRejected", "ControlError", "HealingControl", "LlmBudget"]


class ControlError(Exception):
    """Base of what a :class:`HealingControl` may raise; the API turns each into a clear 4xx."""


class ActionNotFound(ControlError, LookupError):
    """No pending action with that id (404)."""


class ActionRejected(ControlError):
    """Refused at once: the kill switch, an unknown action, or the action is not pending (409)."""


@runtime_checkable
class HealingControl(Protocol):
    """Operator verbs. Each of approve, deny and trigger returns the queued control request."""

    def approve(self, action_id: str, *, actor: str) -> Mapping[str, Any]: ...

    def deny(self, action_id: str, *, actor: str, reason: str) -> Mapping[str, Any]: ...

    def trigger(
        self,
        service: str,
        action: str,
        params: Mapping[str, Any],
        *,
        actor: str,
        reason: str,
        request_id: str | None = None,
    ) -> Mapping[str, Any]: ...

    def set_kill_switch(self, engaged: bool, *, actor: str, reason: str) -> bool: ...

    def kill_switch_engaged(self) -> bool: ...

    def executor_mode(self) -> str: ...


@runtime_checkable
class LlmBudget(Protocol):
    """How much LLM spend is left in the current budget period (None: no budget configured)."""

    def remaining_usd(self) -> float | None: ...
