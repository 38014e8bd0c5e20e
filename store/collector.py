"""A Prometheus collector that exposes the store's derived state (SLOs, incidents, cost) at scrape time.

Why a custom collector instead of gauges updated by the sink: SLO burn rates depend on *now* (windows
slide even when no event arrives), so they are computed when Prometheus asks. Results are cached for
``ttl_seconds`` so a burst of scrapes does not recompute everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from forewarn.settings import Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind
from forewarn.store.slo import downtime, outage_cost
from forewarn.store.views import service_outages, service_slo

__all__ = ["StoreCollector"]


class StoreCollector(Collector):
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        services: Callable[[], Iterable[str]] | None = None,
        clock: Callable[[], float] = time.time,
        ttl_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self._services = services or self._known_services
        self._clock = clock
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def _known_services(self) -> list[str]:
        names = set(self.store.services()) | {t.service for t in self.settings.probe.resolved_targets()}
        return sorted(names)

    def describe(self) -> Iterable[Metric]:
        return []  # computed families: skip the registration-time collect

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= self._ttl:
                self._cached = (now, self._compute(now))
            families = self._cached[1]
        yield from families

    def _compute(self, now: float) -> list[Metric]:
        slo = self.settings.slo
        sli = GaugeMetricFamily(
            "forewarn_slo_sli_ratio", "SLI over the SLO window.", labels=["service", "objective"]
        )
        target = GaugeMetricFamily(
            "forewarn_slo_target_ratio", "SLO target.", labels=["service", "objective"]
        )
        budget = GaugeMetricFamily(
            "forewarn_slo_error_budget_remaining_ratio",
            "Share of the error budget left in the SLO window (negative: overspent).",
            labels=["service", "objective"],
        )
        burn = GaugeMetricFamily(
            "forewarn_slo_burn_rate",
            "Error-budget burn rate over a trailing window (1 = on budget).",
            labels=["service", "objective", "window"],
        )
        alerts = GaugeMetricFamily(
            "forewarn_slo_alert_firing",
            "1 while a multi-window burn-rate alert fires (SRE workbook), by severity.",
            labels=["service", "objective", "severity"],
        )
        down = GaugeMetricFamily(
            "forewarn_downtime_seconds", "Downtime in the SLO window (from probes).", labels=["service"]
        )
        cost = GaugeMetricFamily(
            "forewarn_downtime_cost_usd",
            "Downtime cost in the SLO window (cost per minute from config).",
            labels=["service"],
        )
        users = GaugeMetricFamily(
            "forewarn_downtime_users_affected",
            "Estimated customers affected in the SLO window.",
            labels=["service"],
        )
        window = slo.window_days * 86400.0
        for service in self._services():
            for status in service_slo(self.store, service, now, slo):
                labels = [service, status.objective]
                target.add_metric(labels, status.target)
                if status.sli is not None:
                    sli.add_metric(labels, status.sli)
                if status.error_budget_remaining is not None:
                    budget.add_metric(labels, status.error_budget_remaining)
                for name, rate in status.burn_rates.items():
                    burn.add_metric([*labels, name], rate)
                firing = {a.severity for a in status.alerts}
                for severity in ("page", "ticket"):
                    alerts.add_metric([*labels, severity], 1.0 if severity in firing else 0.0)
            seconds = downtime(service_outages(self.store, service, now - window, now), now - window, now)
            priced = outage_cost(service, seconds, slo)
            down.add_metric([service], seconds)
            cost.add_metric([service], priced.cost)
            users.add_metric([service], priced.users_affected)
        incidents = GaugeMetricFamily(
            "forewarn_incidents", "Incidents in the store by status.", labels=["service", "status"]
        )
        counts: dict[tuple[str, str], int] = {}
        offset = 0
        while True:
            page = self.store.page(Kind.INCIDENT, limit=1000, offset=offset)
            for item in page.items:
                key = (str(item.get("service")), str(item.get("status", "open")))
                counts[key] = counts.get(key, 0) + 1
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        for (service, status_name), n in sorted(counts.items()):
            incidents.add_metric([service, status_name], float(n))
        rows = GaugeMetricFamily("forewarn_store_rows", "Rows in the state store by kind.", labels=["kind"])
        for kind in Kind:
            rows.add_metric([kind.value], float(self.store.count(kind)))
        last = GaugeMetricFamily(
            "forewarn_topic_last_event_timestamp_seconds",
            "Event time of the newest record the store sink saw, per topic.",
            labels=["topic"],
        )
        for topic in self.store.topics():
            if topic.last_event_ts is not None:
                last.add_metric([topic.topic], topic.last_event_ts)
        return [sli, target, budget, burn, alerts, down, cost, users, incidents, rows, last]
