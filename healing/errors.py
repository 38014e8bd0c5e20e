"""One exception hierarchy for the healing executor.

Why a hierarchy: the executor must tell "the world said no" (a guard, a failed validation) from
"our code broke", and callers (the dataflow, the API) catch ``HealingError`` alone to stay up.
"""

from __future__ import annotations


class HealingError(Exception):
    """Base of every error the healing executor raises on purpose."""


class ConfigError(HealingError):
    """A policy, dependency map or notification config is invalid; the message names file and line."""


class UnknownAction(HealingError):
    """A policy names an action that is not registered."""


class ActionFailed(HealingError):
    """An action ran and did not do what it promised (HTTP error, timeout, process did not restart)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class GuardRejected(HealingError):
    """A guard (mode, kill switch, budget, breaker, rate limit, ...) refused the action."""

    def __init__(self, guard: str, message: str) -> None:
        super().__init__(f"{guard}: {message}")
        self.guard = guard


class ValidationFailed(HealingError):
    """The action ran but the service did not become healthy within the validation window."""


class RollbackFailed(HealingError):
    """An undo was attempted after a failed validation and it failed too: a human must look."""


class AuditIntegrityError(HealingError):
    """The audit log's hash chain is broken: a record was edited, removed, inserted or reordered."""


class NotifyError(HealingError):
    """A notification channel (Slack, SMTP, webhook) refused or could not be reached."""


__all__ = [
    "ActionFailed",
    "AuditIntegrityError",
    "ConfigError",
    "GuardRejected",
    "HealingError",
    "NotifyError",
    "RollbackFailed",
    "UnknownAction",
    "ValidationFailed",
]
