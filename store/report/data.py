"""Gather what the executive report shows, from the state store, for one period.

Why a separate step from rendering: the numbers (availability, cost, actions, LLM spend) are tested
directly on a store with known content; the HTML and the plots only present them.

Definitions used in the report (also printed in it):
- *predicted breach*: a forecast series whose breach probability reached 0.5, or whose time to
  exhaustion fell within its horizon, during the period (counted once per service/metric);
- *prevented*: a predicted breach whose service then had a successful healing action and no
  outage between that action and the end of the forecast's horizon.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from forewarn.settings import Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind, payload_time
from forewarn.store.views import PeriodImpact, incident_report, period_impact, service_outages

__all__ = ["ActionSummary", "Breach", "Capacity", "ReportData", "SpendDay", "gather"]

SUCCESS = {"succeeded", "success", "ok", "done", "completed", "validated"}
FAILURE = {"failed", "error", "rolled_back", "rollback", "timeout", "not_validated"}


@dataclass(frozen=True, slots=True)
class ActionSummary:
    action: str
    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def succeeded(self) -> int:
        return sum(n for s, n in self.by_status.items() if s in SUCCESS)

    @property
    def finished(self) -> int:
        return sum(n for s, n in self.by_status.items() if s in SUCCESS or s in FAILURE)


@dataclass(frozen=True, slots=True)
class Capacity:
    """The newest forecast of a series that predicts exhaustion: when it runs out at its trend."""

    service: str
    metric: str
    time_to_exhaustion_seconds: float
    lower: float | None
    upper: float | None
    forecast_at: datetime
    model: str


@dataclass(frozen=True, slots=True)
class Breach:
    service: str
    metric: str
    predicted_at: datetime
    horizon_seconds: float
    prevented: bool


@dataclass(frozen=True, slots=True)
class SpendDay:
    day: str
    cost_usd: float
    tokens: int
    reports: int


@dataclass
class ReportData:
    since: datetime
    until: datetime
    generated_at: datetime
    impact: PeriodImpact
    incidents: list[dict[str, Any]]
    actions: list[ActionSummary]
    capacity: list[Capacity]
    breaches: list[Breach]
    llm_spend: list[SpendDay]
    detections: int
    notes: list[str] = field(default_factory=list)

    @property
    def actions_total(self) -> int:
        return sum(a.total for a in self.actions)

    @property
    def action_success_rate(self) -> float | None:
        finished = sum(a.finished for a in self.actions)
        return None if finished == 0 else sum(a.succeeded for a in self.actions) / finished

    @property
    def llm_total_usd(self) -> float:
        return sum(d.cost_usd for d in self.llm_spend)


def _all(store: Store, kind: Kind, since: datetime, until: datetime) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = store.page(kind, since=since, until=until, limit=1000, offset=len(items))
        items.extend(page.items)
        if not page.items or len(items) >= page.total:
            return items


def _status(item: dict[str, Any]) -> str:
    value = item.get("status", item.get("outcome", "unknown"))
    if isinstance(value, dict):
        value = value.get("status", "unknown")
    return str(value)


def _actions(items: list[dict[str, Any]]) -> list[ActionSummary]:
    by_action: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        by_action[str(item.get("action", item.get("name", "?")))][_status(item)] += 1
    return [ActionSummary(name, dict(counts)) for name, counts in sorted(by_action.items())]


def _capacity(store: Store, until: datetime) -> list[Capacity]:
    latest = store.page(
        Kind.FORECAST, until=until, latest_per=("service", "metric", "horizon_seconds"), limit=1000
    )
    best: dict[tuple[str, str], Capacity] = {}
    for item in latest.items:
        tte = item.get("time_to_exhaustion_seconds")
        stamp = payload_time(item.get("timestamp"))
        if not isinstance(tte, int | float) or stamp is None:
            continue
        key = (str(item["service"]), str(item.get("metric", item.get("series", "?"))))
        candidate = Capacity(
            service=key[0],
            metric=key[1],
            time_to_exhaustion_seconds=float(tte),
            lower=item.get("time_to_exhaustion_lower"),
            upper=item.get("time_to_exhaustion_upper"),
            forecast_at=stamp,
            model=str(item.get("model", "unknown")),
        )
        kept = best.get(key)
        if kept is None or candidate.forecast_at > kept.forecast_at:
            best[key] = candidate
    return sorted(best.values(), key=lambda c: c.time_to_exhaustion_seconds)


def _breaches(store: Store, forecasts: list[dict[str, Any]], actions: list[dict[str, Any]]) -> list[Breach]:
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for item in sorted(forecasts, key=lambda f: str(f.get("timestamp"))):
        horizon = float(item.get("horizon_seconds", item.get("horizon", 0.0)) or 0.0)
        probability = item.get("breach_probability")
        tte = item.get("time_to_exhaustion_seconds")
        predicted = (isinstance(probability, int | float) and probability >= 0.5) or (
            isinstance(tte, int | float) and tte <= horizon
        )
        key = (str(item["service"]), str(item.get("metric", item.get("series", "?"))))
        if predicted and key not in first:
            first[key] = item
    breaches = []
    for (service, metric), item in sorted(first.items()):
        at = payload_time(item.get("timestamp"))
        if at is None:
            continue
        horizon = float(item.get("horizon_seconds", item.get("horizon", 0.0)) or 0.0)
        healed = [
            stamp
            for a in actions
            if a.get("service") == service
            and _status(a) in SUCCESS
            and (stamp := payload_time(a.get("updated_at") or a.get("requested_at") or a.get("timestamp")))
            is not None
            and at <= stamp <= datetime.fromtimestamp(at.timestamp() + horizon, UTC)
        ]
        prevented = False
        if healed:
            start = min(healed).timestamp()
            end = at.timestamp() + horizon
            prevented = not service_outages(store, service, start, end)
        breaches.append(Breach(service, metric, at, horizon, prevented))
    return breaches


def _llm_spend(incidents: list[dict[str, Any]]) -> list[SpendDay]:
    days: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for item in incidents:
        report = item.get("report")
        if not isinstance(report, dict):
            continue
        stamp = payload_time(report.get("generated_at") or item.get("opened_at"))
        if stamp is None:
            continue
        day = days[stamp.date().isoformat()]
        day[0] += float(report.get("cost_usd") or 0.0)
        day[1] += float(report.get("prompt_tokens") or 0) + float(report.get("completion_tokens") or 0)
        day[2] += 1
    return [SpendDay(d, v[0], int(v[1]), int(v[2])) for d, v in sorted(days.items())]


def gather(store: Store, settings: Settings, since: datetime, until: datetime) -> ReportData:
    """Everything the report needs for ``[since, until)``."""
    services = set(store.services()) | set(settings.slo.services) - {"overall"}
    services |= {t.service for t in settings.probe.resolved_targets()}
    impact = period_impact(store, since.timestamp(), until.timestamp(), settings.slo, sorted(services))
    incidents = _all(store, Kind.INCIDENT, since, until)
    for item in incidents:
        item["report_markdown"] = incident_report(item)
    actions = _all(store, Kind.ACTION, since, until)
    forecasts = _all(store, Kind.FORECAST, since, until)
    data = ReportData(
        since=since,
        until=until,
        generated_at=store.now(),
        impact=impact,
        incidents=incidents,
        actions=_actions(actions),
        capacity=_capacity(store, until),
        breaches=_breaches(store, forecasts, actions),
        llm_spend=_llm_spend(incidents),
        detections=store.page(Kind.DETECTION, since=since, until=until, limit=1).total,
    )
    if not any(s.probes for s in impact.services):
        data.notes.append("No probe results in this period: availability and downtime are unknown.")
    return data
