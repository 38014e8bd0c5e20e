"""Derived views over the store shared by the API and the report: SLO status, outages and their cost.

Why here and not in each consumer: the API's ``/v1/services``, the incident impact and the executive
report must agree to the cent, so they share these few functions over ``forewarn.slo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from forewarn.settings import SloSettings
from forewarn.slo import Cost, Outage, Sample, SloStatus, downtime, evaluate, outage_cost, outages
from forewarn.store.db import Store

__all__ = ["incident_impact", "incident_report", "samples", "service_outages", "service_slo"]

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
        for key in ("markdown", "text", "body", "summary"):
            if isinstance(report.get(key), str):
                return str(report[key])
    import json

    return json.dumps(report, indent=2, default=str)


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
