"""The guards: every reason not to act, checked before each action, cheapest and strongest first.

Order: kill switch, manual override, maintenance window, circuit breaker, cool-down, restart
budget, per-action rate limit, global rate limit, concurrency (including related services from the
dependency map). Each refusal is a ``GuardRejected`` naming the guard, so the audit trail says
exactly why nothing happened.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from forewarn.healing.actions.base import Action
from forewarn.healing.clock import Clock
from forewarn.healing.config import GuardConfig
from forewarn.healing.dependencies import DependencyMap
from forewarn.healing.errors import GuardRejected
from forewarn.healing.kill_switch import KillSwitch
from forewarn.healing.state import StateStore


class Guards:
    def __init__(self, store: StateStore, kill_switch: KillSwitch, clock: Clock, deps: DependencyMap) -> None:
        self.store = store
        self.kill_switch = kill_switch
        self.clock = clock
        self.deps = deps
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}

    def check(self, action: Action, service: str, guards: GuardConfig) -> None:
        """Raise ``GuardRejected`` if ``action`` must not run on ``service`` now."""
        now = self.clock.now()
        if self.kill_switch.engaged():
            info = self.kill_switch.status() or {}
            raise GuardRejected("kill-switch", f"engaged ({info.get('reason') or 'no reason given'})")
        if self.store.overridden(service):
            raise GuardRejected("manual-override", f"a human has taken over {service}")
        when = datetime.fromtimestamp(now, tz=UTC)
        for window in guards.maintenance_windows:
            if window.covers(service, when):
                raise GuardRejected(
                    "maintenance-window", f"{service} is in a maintenance window {window.reason}"
                )
        self._check_breaker(action.name, service, guards, now)
        if guards.cooldown_seconds:
            last = self.store.last_run(service, action.name)
            if last is not None and now - last < guards.cooldown_seconds:
                raise GuardRejected(
                    "cooldown",
                    f"{action.name} ran on {service} {now - last:.0f}s ago "
                    f"(cool-down {guards.cooldown_seconds:.0f}s)",
                )
        budget = guards.restart_budget
        if action.restarts and budget is not None:
            used = self.store.count_runs(now - budget.per_seconds, service=service, restarts_only=True)
            if used >= budget.max:
                raise GuardRejected(
                    "restart-budget",
                    f"{service} already restarted {used} times in {budget.per_seconds:.0f}s "
                    f"(budget {budget.max})",
                )
        limit = guards.rate_limit
        if limit is not None:
            used = self.store.count_runs(now - limit.per_seconds, action=action.name)
            if used >= limit.max:
                raise GuardRejected(
                    "rate-limit",
                    f"{action.name} ran {used} times in {limit.per_seconds:.0f}s (limit {limit.max})",
                )
        limit = guards.global_rate_limit
        if limit is not None:
            used = self.store.count_runs(now - limit.per_seconds)
            if used >= limit.max:
                raise GuardRejected(
                    "global-rate-limit", f"{used} actions in {limit.per_seconds:.0f}s (limit {limit.max})"
                )

    def _check_breaker(self, action: str, service: str, guards: GuardConfig, now: float) -> None:
        if guards.breaker is None:
            return
        row = self.store.breaker(action, service)
        if row.opened_at is None:
            return
        if now - row.opened_at < guards.breaker.pause_seconds:
            raise GuardRejected(
                "circuit-breaker",
                f"open for {action} on {service} after {row.failures} failed heals "
                f"(half-open in {guards.breaker.pause_seconds - (now - row.opened_at):.0f}s)",
            )
        # Half-open: let this one trial through and re-arm, so no second trial runs before its result.
        self.store.set_breaker(action, service, row.failures, now)

    def record_heal(self, action: str, service: str, ok: bool, guards: GuardConfig) -> str:
        """Feed a heal's verdict to the breaker; returns its state afterwards (closed/open)."""
        if guards.breaker is None:
            return "closed"
        if ok:
            self.store.set_breaker(action, service, 0, None)
            return "closed"
        row = self.store.breaker(action, service)
        failures = row.failures + 1
        if failures >= guards.breaker.failures:
            self.store.set_breaker(action, service, failures, self.clock.now())
            return "open"
        self.store.set_breaker(action, service, failures, None)
        return "closed"

    @contextmanager
    def slot(self, service: str, guards: GuardConfig) -> Iterator[None]:
        """Hold a concurrency slot for ``service``; refuses when full or a related service is healing."""
        with self._lock:
            busy = {s for s, n in self._inflight.items() if n > 0}
            total = sum(self._inflight.values())
            if guards.max_concurrent is not None and total >= guards.max_concurrent:
                raise GuardRejected("max-concurrent", f"{total} actions already running")
            clash = sorted(s for s in busy if self.deps.related(s, service))
            if clash:
                raise GuardRejected(
                    "cascade", f"{service} is related to {', '.join(clash)}, which is being healed now"
                )
            self._inflight[service] = self._inflight.get(service, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._inflight[service] -= 1

    def healing_now(self) -> set[str]:
        with self._lock:
            return {s for s, n in self._inflight.items() if n > 0}


__all__ = ["Guards"]
