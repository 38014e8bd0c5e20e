"""Typed healing actions, registered by name (see ``registry.default_registry``)."""

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.actions.registry import ActionRegistry, default_registry

__all__ = ["Action", "ActionContext", "ActionOutcome", "ActionRegistry", "default_registry"]
