"""Derived views over the store shared by the API and the report: SLO status, outages and their cost.

Why here and not in each consumer: the API's ``/v1/services``, the incident impact and the executive
report must agree to the cent, so they share these few functions over ``forewarn.store.slo``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from forewarn.events import Incident
from forewarn.settings import SloSettings
from forewarn.store.db import Store
from forewarn.store.records import Kind
from forewarn.store.slo import Cost, Outage, Sample, SloStatus, downtime, evaluate, outage_cost, outages

__all__ = [
    "PeriodImpact",
    "ServicePeriod",
    "incident_impact",
    "incident_report",
    "period_impact",
    "samples",
    "service_outages",
    "service_slo",
]

# Enough history for the longest burn-rate window (3 days) and the SLO window.
_MAX_GAP_SECONDS = 300.0


def samples(
    store: Store, service: str, since: float | None = None, until: float | None = None
) -> list[Sample]:
    return [
        Sample(ts, ok, latency)
        for _, ts, ok, latency in store.probe_samples(service=service, since=since, until=until)
    ]


def service_slo(store: Store, service: str, now: float, settings: SloSettings) -> list[SloStatus]:
    since = now - max(settings.window_days * 86400.0, 3 * 86400.0)
    return evaluate(service, samples(store, service, since, now + 1e-6), now, settings)


def service_outages(store: Store, service: str, since: float, until: float) -> list[Outage]:
    found = outages(service, samples(store, service, since - _MAX_GAP_SECONDS, until))
    return [o for o in found if o.end > since and o.start < until]


def incident_impact(store: Store, incident: Incident, now: float, settings: SloSettings) -> Cost:
    """Downtime of the incident's service while it was open, priced with the configured rates."""
    opened = _utc(incident.opened_at).timestamp()
    closed = _utc(incident.resolved_at).timestamp() if incident.resolved_at is not None else now
    seconds = downtime(service_outages(store, incident.service, opened, closed), opened, closed)
    return outage_cost(incident.service, seconds, settings)


def incident_report(incident: Incident) -> str | None:
    """The incident's report rendered as Markdown (None before the reporter wrote one)."""
    report = incident.report
    if report is None:
        return None
    lines = [f"# {report.title}", ""]
    lines += [f"**Impact:** {report.impact}", "", f"**Probable cause:** {report.probable_cause}", ""]
    lines += [f"**Cause:** {report.cause_service} ({report.cause_category})", ""]
    lines += ["## Evidence", ""]
    lines += [f"- {e.kind} `{e.ref}`: {e.detail}" for e in report.evidence]
    lines += ["", "## Runbook (advisory)", ""]
    lines += [f"{i}. {step}" for i, step in enumerate(report.runbook, 1)]
    lines.append("")
    model = f", model {report.model}" if report.model else ""
    lines.append(f"_Written by {report.source}{model}, confidence {report.confidence:.0%}; advisory only._")
    return "\n".join(lines).rstrip() + "\n"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ServicePeriod:
    """One service over a period: availability, downtime and what it cost."""

    service: str
    probes: int
    availability: float | None
    target: float
    downtime_seconds: float
    cost: float
    users_affected: float


@dataclass(frozen=True, slots=True)
class PeriodImpact:
    """Business impact totals over ``[since, until)``: per service, per incident and overall."""

    since: float
    until: float
    currency: str
    services: list[ServicePeriod]
    incidents: list[tuple[Incident, Cost]]

    @property
    def total_cost(self) -> float:
        return sum(s.cost for s in self.services)

    @property
    def total_downtime_seconds(self) -> float:
        return sum(s.downtime_seconds for s in self.services)

    @property
    def total_users_affected(self) -> float:
        return sum(s.users_affected for s in self.services)


def period_impact(
    store: Store, since: float, until: float, settings: SloSettings, services: Iterable[str] | None = None
) -> PeriodImpact:
    """Downtime, cost and customers affected per service and per incident over a period."""
    names = sorted(set(services) if services is not None else set(store.services()))
    rows = []
    for name in names:
        window = samples(store, name, since, until)
        found = service_outages(store, name, since, until)
        seconds = downtime(found, since, until)
        priced = outage_cost(name, seconds, settings)
        business = settings.services.get(name)
        target = (business.availability_target if business else None) or settings.availability_target
        ok = sum(1 for s in window if s.ok)
        rows.append(
            ServicePeriod(
                service=name,
                probes=len(window),
                availability=ok / len(window) if window else None,
                target=target,
                downtime_seconds=seconds,
                cost=priced.cost,
                users_affected=priced.users_affected,
            )
        )
    incidents = []
    offset = 0
    while True:
        page = store.page(
            Kind.INCIDENT,
            since=datetime.fromtimestamp(since, UTC),
            until=datetime.fromtimestamp(until, UTC),
            limit=500,
            offset=offset,
        )
        for item in page.items:
            incident = Incident.model_validate(item)
            incidents.append((incident, incident_impact(store, incident, until, settings)))
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    return PeriodImpact(since, until, settings.currency, rows, incidents)
