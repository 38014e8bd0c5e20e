"""The responder's Prometheus metrics: healing outcomes, predicted warning lead time, a heartbeat.

Why a module of its own: ``forewarn respond`` is the only process that sees every ``ActionDecision``
the healing executor returns, so it is where the dashboard's ``forewarn_heal_*`` counters must be
kept. The families themselves come from ``forewarn.metrics`` (shared names, types and labels); this
module only maps records and detections onto them, as plain code a unit test can drive.

Mapping (statuses from ``forewarn.healing.records``):
- ``forewarn_heal_attempts_total{service,action}``: records whose action really ran
  (``ActionDecision.acted``: succeeded, failed, rolled_back, not_validated).
- ``forewarn_heal_successes_total``: status ``succeeded``; ``forewarn_heal_rollbacks_total``:
  status ``rolled_back``.
- ``forewarn_heal_guard_rejections_total{guard}``: status ``rejected``; the guard's name is the
  detail's prefix (``GuardRejected`` formats ``"<guard>: <message>"``).
- ``forewarn_heals_evaluated_total``: actions that ran under a policy with a validation check and got
  its verdict (the record carries ``validation``); ``forewarn_false_heals_total``: those whose verdict
  was "not healed" (``rolled_back`` or ``not_validated``): forewarn acted and the service's health
  check still failed, so the action was the wrong one or not needed for what was wrong. Their ratio is
  the dashboard's false-heal rate.
- ``forewarn_warning_lead_time_seconds{service}``: an ``exhaustion_forecast`` detection's
  ``forecast.time_to_exhaustion_seconds``, i.e. the lead time forewarn *predicted* when it warned.
- ``forewarn_heartbeat_timestamp_seconds{component="responder"}``: every tick, so a stalled
  responder shows as a stale timestamp; each tick also sets ``forewarn_heal_kill_switch_engaged``
  and ``forewarn_heal_pending_actions`` from the executor.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from forewarn.events import Detection
from forewarn.healing.records import ActionDecision
from forewarn.metrics import EngineMetrics, HealingMetrics, engine_metrics, healing_metrics

log = logging.getLogger(__name__)

COMPONENT = "responder"
MAX_GUARD_LABEL = 40  # guard names are a short fixed vocabulary; cap anything unexpected


class ResponderMetrics:
    """Updates the shared healing and engine families from what the responder handled."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        self.healing: HealingMetrics = healing_metrics(registry)
        self.engine: EngineMetrics = engine_metrics(registry, clock)

    def observe_records(self, records: Iterable[ActionDecision]) -> None:
        for record in records:
            action = record.action or "none"
            if record.acted:
                self.healing.attempts.labels(service=record.service, action=action).inc()
            if record.status == "succeeded":
                self.healing.successes.labels(service=record.service, action=action).inc()
            elif record.status == "rolled_back":
                self.healing.rollbacks.labels(service=record.service, action=action).inc()
            elif record.status == "rejected":
                self.healing.guard_rejections.labels(guard=guard_name(record.detail)).inc()
            if record.acted and record.validation is not None:
                self.engine.heals_evaluated.inc()
                if record.status in ("rolled_back", "not_validated"):
                    self.engine.false_heals.inc()

    def observe_detection(self, detection: Detection) -> None:
        if detection.detection_kind != "exhaustion_forecast" or detection.forecast is None:
            return
        tte = detection.forecast.time_to_exhaustion_seconds
        if tte is not None and math.isfinite(tte):
            self.engine.lead_time.labels(service=detection.service).observe(tte)

    def beat(self, executor: object | None = None) -> None:
        """Heartbeat; with the healing executor, also its kill switch and pending approvals.

        The executor is read by duck typing (``kill_switch.engaged()``, ``pending_approvals()``) so
        a test double without them only beats. A failing read never stops the responder's loop.
        """
        self.engine.beat(COMPONENT)
        if executor is None:
            return
        try:
            kill_switch = getattr(executor, "kill_switch", None)
            if kill_switch is not None:
                self.healing.kill_switch.set(1.0 if kill_switch.engaged() else 0.0)
            pending = getattr(executor, "pending_approvals", None)
            if callable(pending):
                self.healing.pending.set(len(pending()))
        except Exception:
            log.exception("reading the healing executor's state for /metrics failed")


def guard_name(detail: str) -> str:
    """The refusing guard's name from a rejected record's detail (``"rate-limit: ..."``)."""
    name, sep, _rest = detail.partition(":")
    name = name.strip()
    if not sep or not name or " " in name:
        return "unknown"
    return name[:MAX_GUARD_LABEL]


__all__ = ["ResponderMetrics", "guard_name"]
