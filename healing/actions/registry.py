"""Actions by name. Policies name actions; the registry checks names and parameters at load time.

Plugins: every action comes from the ``forewarn.actions`` entry-point group, the built-ins included
(declared in forewarn's ``pyproject.toml``). A third-party package adds its own in its metadata::

    [project.entry-points."forewarn.actions"]
    my-actions = "my_package.actions:ACTIONS"   # an Action subclass, or a list of them

Whatever the plugin, the executor applies the same contract to it: the guards (kill switch, rate
limits, restart budget, cooldown, breaker, concurrency), the reversible flag (only reversible actions
run early on a forecast), validation after it runs, rollback through ``undo`` and the audit trail.
A plugin that fails to load is logged and listed in ``plugin_errors``; a policy naming one of its
actions then fails validation, naming the error, instead of the responder failing to start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from forewarn.healing.actions.admin import ADMIN_ACTIONS
from forewarn.healing.actions.base import Action
from forewarn.healing.actions.command import RunCommand
from forewarn.healing.actions.kubernetes import KUBERNETES_ACTIONS
from forewarn.healing.actions.process import RestartProcess
from forewarn.healing.actions.systemd import SystemdRestart
from forewarn.healing.actions.webhook import SignedWebhook
from forewarn.healing.errors import UnknownAction

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "forewarn.actions"

# The built-ins, for a source tree run without installed metadata (the entry points say the same).
BUILTIN_ACTIONS: list[type[Action]] = [
    *ADMIN_ACTIONS,
    RestartProcess,
    SignedWebhook,
    RunCommand,
    SystemdRestart,
    *KUBERNETES_ACTIONS,
]


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}
        self.origins: dict[str, str] = {}  # action name -> where it came from (entry point or "builtin")
        self.plugin_errors: dict[str, str] = {}  # entry point -> why it did not load

    def register(self, action: Action, origin: str = "builtin") -> Action:
        if action.name in self._actions:
            raise ValueError(
                f"action {action.name!r} is already registered (by {self.origins[action.name]}); "
                f"{origin} cannot register it again"
            )
        self._actions[action.name] = action
        self.origins[action.name] = origin
        return action

    def get(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            known = ", ".join(sorted(self._actions))
            broken = "; ".join(f"{ep}: {why}" for ep, why in sorted(self.plugin_errors.items()))
            raise UnknownAction(
                f"unknown action {name!r} (known: {known})"
                + (f"; plugins that failed: {broken}" if broken else "")
            ) from None

    def parse(self, name: str, params: dict[str, Any] | None) -> BaseModel:
        return self.get(name).parse(params)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def load_entry_points(self, points: Iterable[EntryPoint] | None = None) -> None:
        """Register every action of the ``forewarn.actions`` entry points (skipping exact repeats)."""
        for point in points if points is not None else entry_points(group=ENTRY_POINT_GROUP):
            origin = f"{point.name} = {point.value}"
            try:
                classes = _action_classes(point.load())
                for cls in classes:
                    if type(self._actions.get(cls.name)) is cls:
                        continue  # the same class twice (an editable and a built install): harmless
                    self.register(cls(), origin)
            except Exception as exc:  # a plugin's bug must not stop the responder
                self.plugin_errors[origin] = f"{type(exc).__name__}: {exc}"
                log.warning("healing action plugin %s did not load: %s: %s", origin, type(exc).__name__, exc)


def _action_classes(value: object) -> list[type[Action]]:
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if not (
            isinstance(item, type)
            and issubclass(item, Action)
            and isinstance(getattr(item, "name", None), str)
        ):
            raise TypeError(f"{item!r} is not an Action subclass with a name")
    return items  # type: ignore[return-value]


def default_registry(plugins: bool = True) -> ActionRegistry:
    """The built-in actions, then every installed ``forewarn.actions`` plugin (``plugins=False``: none)."""
    registry = ActionRegistry()
    for cls in BUILTIN_ACTIONS:
        registry.register(cls())
    if plugins:
        registry.load_entry_points()
    return registry


__all__ = ["BUILTIN_ACTIONS", "ENTRY_POINT_GROUP", "ActionRegistry", "default_registry"]
