"""Test doubles for unit tests of the executor's decisions (the real actions are tested over HTTP)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.actions.registry import ActionRegistry, default_registry
from forewarn.healing.config import HealingConfig
from forewarn.healing.errors import ActionFailed


class Recorder(Action):
    """Counts runs and undos; fails while ``fail`` is set."""

    name: ClassVar[str] = "fake-fix"
    reversible: ClassVar[bool] = True
    restarts: ClassVar[bool] = True

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []
        self.undos: list[str] = []
        self.fail = False
        self.explode = False

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        if self.explode:
            raise RuntimeError("bug in an action")
        self.runs.append((ctx.service, ctx.idempotency_key))
        if self.fail:
            raise ActionFailed("fake failure")
        return ActionOutcome(True, "fixed", undo_state={"was": "before"})

    def undo(self, params: BaseModel, ctx: ActionContext, outcome: ActionOutcome) -> ActionOutcome:
        self.undos.append(ctx.service)
        return ActionOutcome(True, "undone")


class OtherFix(Recorder):
    name: ClassVar[str] = "other-fix"


class Irreversible(Recorder):
    name: ClassVar[str] = "fake-irreversible"
    reversible: ClassVar[bool] = False
    restarts: ClassVar[bool] = False


def registry_with_fakes() -> tuple[ActionRegistry, Recorder, OtherFix, Irreversible]:
    registry = default_registry()
    fix, other, irreversible = Recorder(), OtherFix(), Irreversible()
    for action in (fix, other, irreversible):
        registry.register(action)
    return registry, fix, other, irreversible


def config(registry: ActionRegistry, **overrides: Any) -> HealingConfig:
    data: dict[str, Any] = {
        "mode": "auto",
        "guards": {
            "cooldown_seconds": 60,
            "restart_budget": {"max": 3, "per_seconds": 3600},
            "rate_limit": {"max": 10, "per_seconds": 3600},
            "global_rate_limit": {"max": 50, "per_seconds": 3600},
            "max_concurrent": 2,
            "breaker": {"failures": 2, "pause_seconds": 300},
            "approval_timeout_seconds": 120,
            "max_trigger_age_seconds": 900,
        },
        "services": {
            "database": {"cost_per_minute": 40},
            "auth": {"cost_per_minute": 60},
            "payments": {"cost_per_minute": 200},
            "email": {"cost_per_minute": 10},
        },
        "signatures": [
            {"issue_class": "memory_leak", "series": "memory"},
            {"issue_class": "outage", "kinds": ["failure"]},
        ],
        "policies": [
            {"name": "fix-outage", "trigger": {"issue_class": "outage"}, "actions": [{"action": "fake-fix"}]},
            {
                "name": "early-leak",
                "trigger": {"issue_class": "memory_leak", "sources": ["forecast"]},
                "actions": [{"action": "fake-fix"}],
            },
        ],
    }
    data.update(overrides)
    return HealingConfig.model_validate(data, context={"registry": registry})
