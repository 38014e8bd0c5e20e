"""The healing executor: policies, guards, actions, validation, rollback, escalation and audit.

Entry point for the pipeline and the demo::

    from forewarn.healing import HealingExecutor, Trigger

    executor = HealingExecutor.from_settings()          # paths, config, admin key from settings
    records = executor.handle(Trigger.from_detection(detection))   # never raises; idempotent
"""

from forewarn.healing.errors import (
    ActionFailed,
    AuditIntegrityError,
    ConfigError,
    GuardRejected,
    HealingError,
    NotifyError,
    RollbackFailed,
    UnknownAction,
    ValidationFailed,
)
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.kill_switch import KillSwitch
from forewarn.healing.records import ActionDecision
from forewarn.healing.triggers import Trigger, from_incident

__all__ = [
    "ActionDecision",
    "ActionFailed",
    "AuditIntegrityError",
    "ConfigError",
    "GuardRejected",
    "HealingError",
    "HealingExecutor",
    "KillSwitch",
    "NotifyError",
    "RollbackFailed",
    "Trigger",
    "UnknownAction",
    "ValidationFailed",
    "from_incident",
]
