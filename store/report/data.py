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

from forewarn.events import ActionEvent, ForecastEvent, Incident
from forewarn.settings import Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind
from forewarn.store.views import PeriodImpact, period_impact, service_outages

__all__ = ["ActionSummary", "Breach", "Capacity", "ReportData", "SpendDay", "gather"]

SUCCESS = {"succeeded"}
FAILURE = {"failed", "error", "rolled_back", "not_validated"}


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
    incidents: list[Incident]
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


def _actions(events: list[ActionEvent]) -> list[ActionSummary]:
    by_action: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        by_action[event.action][event.status] += 1
    return [ActionSummary(name, dict(counts)) for name, counts in sorted(by_action.items())]


def _capacity(store: Store, until: datetime) -> list[Capacity]:
    latest = store.page(
        Kind.FORECAST, until=until, latest_per=("service", "metric", "horizon_seconds"), limit=1000
    )
    best: dict[tuple[str, str], Capacity] = {}
    for event in (ForecastEvent.model_validate(item) for item in latest.items):
        if event.time_to_exhaustion_seconds is None:
            continue
        key = (event.service, event.metric)
        candidate = Capacity(
            service=event.service,
            metric=event.metric,
            time_to_exhaustion_seconds=event.time_to_exhaustion_seconds,
            lower=event.time_to_exhaustion_lower,
            upper=event.time_to_exhaustion_upper,
            forecast_at=_utc(event.timestamp),
            model=event.model,
        )
        kept = best.get(key)
        if kept is None or candidate.forecast_at > kept.forecast_at:
            best[key] = candidate
    return sorted(best.values(), key=lambda c: c.time_to_exhaustion_seconds)


def _predicted(event: ForecastEvent) -> bool:
    probability, tte = event.breach_probability, event.time_to_exhaustion_seconds
    return (probability is not None and probability >= 0.5) or (
        tte is not None and tte <= event.horizon_seconds
    )


def _breaches(store: Store, forecasts: list[ForecastEvent], actions: list[ActionEvent]) -> list[Breach]:
    first: dict[tuple[str, str], ForecastEvent] = {}
    for event in sorted(forecasts, key=lambda f: _utc(f.timestamp)):
        key = (event.service, event.metric)
        if _predicted(event) and key not in first:
            first[key] = event
    breaches = []
    for (service, metric), event in sorted(first.items()):
        at = _utc(event.timestamp)
        horizon = event.horizon_seconds
        healed = [
            stamp
            for a in actions
            if a.service == service
            and a.status in SUCCESS
            and at <= (stamp := _utc(a.last_change)) <= datetime.fromtimestamp(at.timestamp() + horizon, UTC)
        ]
        prevented = False
        if healed:
            start = min(healed).timestamp()
            end = at.timestamp() + horizon
            prevented = not service_outages(store, service, start, end)
        breaches.append(Breach(service, metric, at, horizon, prevented))
    return breaches


def _llm_spend(incidents: list[Incident]) -> list[SpendDay]:
    days: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for incident in incidents:
        report = incident.report
        if report is None:
            continue
        day = days[_utc(report.generated_at).date().isoformat()]
        day[0] += report.cost_usd
        day[1] += report.prompt_tokens + report.completion_tokens
        day[2] += 1
    return [SpendDay(d, v[0], int(v[1]), int(v[2])) for d, v in sorted(days.items())]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def gather(store: Store, settings: Settings, since: datetime, until: datetime) -> ReportData:
    """Everything the report needs for ``[since, until)``."""
    services = set(store.services()) | set(settings.slo.services) - {"overall"}
    services |= {t.service for t in settings.probe.resolved_targets()}
    impact = period_impact(store, since.timestamp(), until.timestamp(), settings.slo, sorted(services))
    incidents = [Incident.model_validate(item) for item in _all(store, Kind.INCIDENT, since, until)]
    actions = [ActionEvent.model_validate(item) for item in _all(store, Kind.ACTION, since, until)]
    forecasts = [ForecastEvent.model_validate(item) for item in _all(store, Kind.FORECAST, since, until)]
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
