"""The baselines forewarn is compared with, on the same signals as the run with healing off.

Why these two: a static threshold with a ``for:`` duration is what most teams run (Alertmanager
rules), and Prometheus ``predict_linear`` is the usual answer to "warn before the disk is full".
The static rule is evaluated here on the probes the run recorded; ``predict_linear`` is evaluated by
a real Prometheus that scraped the demo app's ``/metrics`` during the run (``query_range`` with a
1 s step is what a rule evaluated every second would have seen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from forewarn.dev.chaos.measure import Run

# Alertmanager style: a service is alerting when its health probe is degraded or down for `for:`.
STATIC_FOR_SECONDS = 10.0
STATIC_FIRING = ("degraded", "down", "error")
PREDICT_RANGE = "20s"
PREDICT_AHEAD_SECONDS = 60


@dataclass(frozen=True)
class PredictRule:
    """One ``predict_linear`` alert: the gauge will cross its capacity within the look-ahead."""

    service: str
    expr: str


PREDICT_RULES: tuple[PredictRule, ...] = (
    PredictRule(
        "database",
        f"predict_linear(musobuddy_db_pool_in_use[{PREDICT_RANGE}], {PREDICT_AHEAD_SECONDS})"
        " >= on() musobuddy_db_pool_size",
    ),
    PredictRule(
        "overall",
        f"predict_linear(musobuddy_memory_bytes[{PREDICT_RANGE}], {PREDICT_AHEAD_SECONDS})"
        " >= on() musobuddy_memory_limit_bytes",
    ),
    PredictRule(
        "overall",
        f"predict_linear(musobuddy_disk_used_bytes[{PREDICT_RANGE}], {PREDICT_AHEAD_SECONDS})"
        " >= on() musobuddy_disk_total_bytes",
    ),
)


@dataclass(frozen=True)
class Alert:
    """A baseline alert firing on ``service``, ``after`` seconds from the run's injection."""

    service: str
    after: float


def static_alerts(run: Run, for_seconds: float = STATIC_FOR_SECONDS) -> list[Alert]:
    """Each service's first firing: probes non-ok without a break for at least ``for_seconds``."""
    pending: dict[str, float] = {}
    fired: dict[str, float] = {}
    for probe in run.probes:
        service = str(probe["service"])
        if service in fired:
            continue
        if probe.get("status") in STATIC_FIRING:
            since = pending.setdefault(service, probe["seen_at"])
            if probe["seen_at"] - since >= for_seconds:
                fired[service] = round(probe["seen_at"] - run.injected_at, 2)
        else:
            pending.pop(service, None)
    return [Alert(s, t) for s, t in fired.items()]


class RangeQuery(Protocol):
    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> dict[str, Any]: ...


def predict_linear_alerts(prometheus: RangeQuery, run: Run) -> list[Alert]:
    """Each rule's first firing in the run, as Prometheus evaluates it over the run's time range."""
    alerts: list[Alert] = []
    for rule in PREDICT_RULES:
        answer = prometheus.query_range(rule.expr, run.injected_at, run.ended_at)
        if answer.get("status") != "success":
            raise RuntimeError(f"prometheus refused {rule.expr!r}: {answer.get('error')}")
        times = [float(t) for series in answer["data"]["result"] for t, _ in series.get("values", [])]
        if times:
            alerts.append(Alert(rule.service, round(min(times) - run.injected_at, 2)))
    return alerts


def alert_metrics(run: Run, alerts: list[Alert], breach: float | None) -> dict[str, Any]:
    """A baseline's scorecard line: it only alerts, so it prevents nothing and resolves nothing."""
    allowed = set(run.scenario.services)
    mine = [a.after for a in alerts if a.service in allowed]
    delay = min(mine) if mine and not run.scenario.control else None
    return {
        "detection_delay_seconds": delay,
        "lead_time_seconds": round(breach - delay, 2) if breach is not None and delay is not None else None,
        "prevented": False if breach is not None else None,
        "auto_resolved": False if not run.scenario.control else None,
        "mttr_seconds": None,
        "false_alarms": sum(1 for a in alerts if a.service not in allowed),
        "downtime_seconds": None,  # filled by the caller: the healing-off run's downtime
        "report_cause_correct": None,
    }
