"""Prometheus metrics of the demo app, served on ``GET /metrics``.

Why a custom collector: the simulated resources (pool, memory, disk, cache) are computed from the
simulation at the instant of the scrape, as client_python's docs recommend for state that lives
elsewhere, instead of gauges updated on every request. Request counts and durations are ordinary
instruments. Everything is registered on the app's own registry, so two apps in one test process
never share numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from forewarn.musobuddy.faults import FAULTS
from forewarn.musobuddy.simulation import Simulation


class SimulationCollector(Collector):
    """Reads one simulation snapshot per scrape."""

    def __init__(self, simulation: Simulation) -> None:
        self.simulation = simulation

    def collect(self) -> Iterator[Metric]:
        snap = self.simulation.snapshot()
        yield InfoMetricFamily("musobuddy_build", "Deployed version.", value={"version": snap.version})
        yield _gauge("musobuddy_db_pool_size", "Database connection pool size.", snap.db_pool_size)
        yield _gauge("musobuddy_db_pool_in_use", "Database connections checked out.", snap.db_pool_in_use)
        yield _gauge("musobuddy_db_pool_waiters", "Requests waiting for a DB connection.", snap.db_waiters)
        yield _gauge("musobuddy_db_up", "1 if the database accepts connections.", float(snap.db_reachable))
        yield _gauge("musobuddy_memory_bytes", "Resident memory of the process.", snap.memory_bytes)
        yield _gauge("musobuddy_memory_limit_bytes", "Memory limit of the process.", snap.memory_limit_bytes)
        yield _gauge(
            "musobuddy_oom_killed", "1 after an out-of-memory kill, until a restart.", float(snap.oom_killed)
        )
        yield _gauge("musobuddy_disk_used_bytes", "Bytes used on the data volume.", snap.disk_used_bytes)
        yield _gauge("musobuddy_disk_total_bytes", "Size of the data volume.", snap.disk_total_bytes)
        yield _gauge("musobuddy_cache_entries", "Entries in the application cache.", snap.cache_entries)
        yield _gauge("musobuddy_cache_hit_ratio", "Cache hit ratio (0..1).", snap.cache_hit_rate)
        yield _gauge(
            "musobuddy_payment_error_ratio", "Share of failing payments (0..1).", snap.payment_error_rate
        )
        yield _gauge("musobuddy_replicas", "Serving replicas.", snap.replicas)
        yield _gauge("musobuddy_maintenance", "1 while in maintenance mode.", float(snap.maintenance))
        yield _gauge("musobuddy_uptime_seconds", "Seconds since the last (re)start.", snap.uptime_seconds)
        restarts = CounterMetricFamily("musobuddy_restarts", "Restarts through the admin API.")
        restarts.add_metric([], snap.restarts)
        yield restarts
        providers = GaugeMetricFamily(
            "musobuddy_provider_up",
            "1 if the provider in use accepts messages.",
            labels=["channel", "provider"],
        )
        providers.add_metric(["email", snap.email_provider], float(snap.email_in_use_up))
        providers.add_metric(["sms", snap.sms_provider], float(snap.sms_in_use_up))
        yield providers
        faults = GaugeMetricFamily("musobuddy_fault_active", "1 while a fault is injected.", labels=["fault"])
        for name in FAULTS:
            faults.add_metric([name], float(name in snap.faults))
        yield faults


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class AppMetrics:
    """The registry of one app and its request instruments."""

    def __init__(self, simulation: Simulation, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.registry.register(SimulationCollector(simulation))
        self.requests = Counter(
            "musobuddy_http_requests",
            "HTTP requests served, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "musobuddy_http_request_duration_seconds",
            "Time to serve a request, by route template.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(route).observe(seconds)
