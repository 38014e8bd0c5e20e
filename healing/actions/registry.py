"""Actions by name. Policies name actions; the registry checks names and parameters at load time."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from forewarn.healing.actions.admin import ADMIN_ACTIONS
from forewarn.healing.actions.base import Action
from forewarn.healing.actions.process import RestartProcess
from forewarn.healing.errors import UnknownAction


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, action: Action) -> Action:
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is already registered")
        self._actions[action.name] = action
        return action

    def get(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            known = ", ".join(sorted(self._actions))
            raise UnknownAction(f"unknown action {name!r} (known: {known})") from None

    def parse(self, name: str, params: dict[str, Any] | None) -> BaseModel:
        return self.get(name).parse(params)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions


def default_registry() -> ActionRegistry:
    """Every built-in action: the admin API verbs, their mitigations, and the local process restart."""
    registry = ActionRegistry()
    classes: list[type[Action]] = [*ADMIN_ACTIONS, RestartProcess]
    for cls in classes:
        registry.register(cls())
    return registry


__all__ = ["ActionRegistry", "default_registry"]
