"""The action contract: a name, a pydantic parameter model, ``run`` and (where possible) ``undo``.

Why these flags: the guards decide on them without knowing what an action does.
``reversible`` means the action leaves no change that cannot be put back (it has an ``undo``, or
it changes no configuration: a graceful restart, a cache clear); only reversible actions may run
early on a forecast alone. ``restarts`` makes an action count against a service's restart budget.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from forewarn.healing.actions.output import basic_redact
from forewarn.healing.clock import Clock
from forewarn.healing.errors import ActionFailed
from forewarn.settings import ActionSettings


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class ActionContext:
    """Everything an action may touch, injected: the target, the clients, the clock, the limits.

    ``settings`` is what the deployer allows (command allow-list, webhook secrets, Kubernetes access);
    ``redact`` masks secrets in anything an action returns for the audit trail (command output).
    """

    service: str
    clock: Clock
    idempotency_key: str
    admin: httpx.Client | None = None
    reason: str = ""
    http: httpx.Client | None = None
    settings: ActionSettings = field(default_factory=ActionSettings)
    redact: Callable[[str], str] = basic_redact


@dataclass
class ActionOutcome:
    """What one run (or undo) did. ``undo_state`` is what ``undo`` needs (e.g. the previous value)."""

    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    undo_state: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "data": self.data, "undo_state": self.undo_state}


class Action(ABC):
    """One healing verb. Subclasses set the class variables and implement ``run``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    params_model: ClassVar[type[BaseModel]] = NoParams
    reversible: ClassVar[bool] = False
    restarts: ClassVar[bool] = False

    @property
    def can_undo(self) -> bool:
        return type(self).undo is not Action.undo

    def parse(self, raw: dict[str, Any] | None) -> BaseModel:
        return self.params_model.model_validate(raw or {})

    @abstractmethod
    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        """Do it. Raise ``ActionFailed`` when it did not work."""

    def undo(self, params: BaseModel, ctx: ActionContext, outcome: ActionOutcome) -> ActionOutcome:
        """Put back what ``run`` changed. Actions without one inherit this refusal."""
        raise ActionFailed(f"{self.name} has no undo")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "reversible": self.reversible,
            "restarts": self.restarts,
            "undo": self.can_undo,
            "params": self.params_model.model_json_schema(),
        }


__all__ = ["Action", "ActionContext", "ActionOutcome", "NoParams"]
