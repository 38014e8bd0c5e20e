"""Derived views over the store shared by the API and the report: SLO status, outages and their cost.

Why here and not in each consumer: the API's ``/v1/services``, the incident impact and the executive
report must agree to the cent, so they share these few functions over ``forewarn.store.slo``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def incident_impact(
    store: Store, incident: Mapping[str, Any], now: float, settings: SloSettings
) -> Cost | None:
    """Downtime of the incident's service while it was open, priced with the configured rates."""
    opened = _epoch(incident.get("opened_at") or incident.get("started_at") or incident.get("timestamp"))
    if opened is None or not incident.get("service"):
        return None
    closed = _epoch(incident.get("resolved_at")) or now
    service = str(incident["service"])
    seconds = downtime(service_outages(store, service, opened, closed), opened, closed)
    return outage_cost(service, seconds, settings)


def incident_report(incident: Mapping[str, Any]) -> str | None:
    """The report text, whether the producer sent a string or an object with Markdown in it."""
    report = incident.get("report")
    if report is None:
        return None
    if isinstance(report, str):
        return report
    if isinstance(report, Mapping):
        for key in ("markdown", "text", "body"):
            if isinstance(report.get(key), str):
                return str(report[key])
        if "probable_cause" in report or "title" in report:
            return _report_markdown(report)
    import json

    return json.dumps(report, indent=2, default=str)


def _report_markdown(report: Mapping[str, Any]) -> str:
    """Render a structured incident report (``forewarn.incidents.models.IncidentReport``) as Markdown."""
    lines = [f"# {report.get('title', 'Incident')}", ""]
    for label, key in (("Impact", "impact"), ("Probable cause", "probable_cause")):
        if report.get(key):
            lines += [f"**{label}:** {report[key]}", ""]
    if report.get("cause_service"):
        lines += [f"**Cause:** {report['cause_service']} ({report.get('cause_category', 'unknown')})", ""]
    evidence = report.get("evidence") or []
    if evidence:
        lines += ["## Evidence", ""]
        lines += [f"- {e.get('kind', '')} `{e.get('ref', '')}`: {e.get('detail', '')}" for e in evidence]
        lines.append("")
    runbook = report.get("runbook") or []
    if runbook:
        lines += ["## Runbook (advisory)", ""]
        lines += [f"{i}. {step}" for i, step in enumerate(runbook, 1)]
        lines.append("")
    source = report.get("source")
    if source:
        model = f", model {report['model']}" if report.get("model") else ""
        confidence = report.get("confidence")
        conf = f", confidence {float(confidence):.0%}" if isinstance(confidence, int | float) else ""
        lines.append(f"_Written by {source}{model}{conf}; advisory only._")
    return "\n".join(lines).rstrip() + "\n"


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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
    incidents: list[tuple[dict[str, Any], Cost]]

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
            impact = incident_impact(store, item, until, settings)
            if impact is not None:
                incidents.append((item, impact))
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    return PeriodImpact(since, until, settings.currency, rows, incidents)
