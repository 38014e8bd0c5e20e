"""The Prometheus metric families forewarn's components share, as factories over an injected registry.

Why one module of factories: the probe runner, the forecaster, the healing executor, the LLM layer and
the API each register their families on their own ``CollectorRegistry`` (tests stay isolated; a
process serves its registry on ``/metrics``), but the dashboard in ``dashboards/forewarn.json`` only
works if every process uses the same names, types and labels. Call e.g. ``probe_metrics(registry)``
once per registry and update the returned object. The dataflow's own families live in
``forewarn.pipeline.metrics`` (``forewarn_pipeline_*``, ``forewarn_detections_total``).

Conventions (Prometheus naming): ``forewarn_`` prefix, ``_total`` for counters, base units in the
name (``_seconds``, ``_usd``, ``_ratio``), few low-cardinality labels (service, metric, action, kind).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from forewarn.events import ProbeResult
from forewarn.kafka.publisher import PublisherStats

__all__ = [
    "ApiMetrics",
    "EngineMetrics",
    "ForecastMetrics",
    "HealingMetrics",
    "LlmMetrics",
    "ProbeMetrics",
    "PublisherCollector",
    "api_metrics",
    "engine_metrics",
    "forecast_metrics",
    "healing_metrics",
    "llm_metrics",
    "probe_metrics",
]

# Health checks answer in milliseconds when well and hit the timeout (5 s default) when not.
PROBE_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# How long before the failure a warning came: seconds to hours.
LEAD_TIME_BUCKETS = (0.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)
API_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# One incident report from an LLM: a cached small model answers in a second, a slow one in minutes.
LLM_LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class ProbeMetrics:
    latency: Histogram
    up: Gauge
    results: Counter

    def observe(self, result: ProbeResult) -> None:
        """Record one probe result (what the probe runner publishes)."""
        self.latency.labels(service=result.service).observe(result.latency_ms / 1000.0)
        self.up.labels(service=result.service).set(1.0 if result.ok else 0.0)
        status = result.status or ("ok" if result.ok else "down")
        self.results.labels(service=result.service, status=status).inc()


def probe_metrics(registry: CollectorRegistry) -> ProbeMetrics:
    return ProbeMetrics(
        latency=Histogram(
            "forewarn_probe_latency_seconds",
            "Response time of the service's health endpoint, per probe.",
            ["service"],
            buckets=PROBE_LATENCY_BUCKETS,
            registry=registry,
        ),
        up=Gauge(
            "forewarn_probe_up",
            "1 when the latest probe passed, 0 when it failed.",
            ["service"],
            registry=registry,
        ),
        results=Counter(
            "forewarn_probes_total",
            "Probe results by outcome status (ok, degraded, down, error).",
            ["service", "status"],
            registry=registry,
        ),
    )


@dataclass(frozen=True)
class ForecastMetrics:
    time_to_exhaustion: Gauge
    breach_probability: Gauge
    point: Gauge
    forecasts: Counter

    def observe(
        self,
        service: str,
        metric: str,
        *,
        point: float,
        breach_probability: float | None,
        time_to_exhaustion_seconds: float | None,
    ) -> None:
        """Record the newest forecast of a series. No crossing expected: the TTE series is removed."""
        self.forecasts.labels(service=service, metric=metric).inc()
        self.point.labels(service=service, metric=metric).set(point)
        if breach_probability is not None:
            self.breach_probability.labels(service=service, metric=metric).set(breach_probability)
        if time_to_exhaustion_seconds is None:
            with contextlib.suppress(KeyError):
                self.time_to_exhaustion.remove(service, metric)
        else:
            self.time_to_exhaustion.labels(service=service, metric=metric).set(time_to_exhaustion_seconds)


def forecast_metrics(registry: CollectorRegistry) -> ForecastMetrics:
    labels = ["service", "metric"]
    return ForecastMetrics(
        time_to_exhaustion=Gauge(
            "forewarn_forecast_time_to_exhaustion_seconds",
            "Predicted seconds until the resource crosses its limit at the current trend.",
            labels,
            registry=registry,
        ),
        breach_probability=Gauge(
            "forewarn_forecast_breach_probability",
            "Probability that the series crosses its threshold within the forecast horizon (0..1).",
            labels,
            registry=registry,
        ),
        point=Gauge("forewarn_forecast_value", "Point forecast at the horizon.", labels, registry=registry),
        forecasts=Counter("forewarn_forecasts_total", "Forecasts emitted.", labels, registry=registry),
    )


@dataclass(frozen=True)
class HealingMetrics:
    attempts: Counter
    successes: Counter
    rollbacks: Counter
    guard_rejections: Counter
    pending: Gauge
    kill_switch: Gauge


def healing_metrics(registry: CollectorRegistry) -> HealingMetrics:
    labels = ["service", "action"]
    return HealingMetrics(
        attempts=Counter(
            "forewarn_heal_attempts_total", "Healing actions attempted.", labels, registry=registry
        ),
        successes=Counter(
            "forewarn_heal_successes_total",
            "Healing actions whose post-action validation passed.",
            labels,
            registry=registry,
        ),
        rollbacks=Counter(
            "forewarn_heal_rollbacks_total", "Healing actions rolled back.", labels, registry=registry
        ),
        guard_rejections=Counter(
            "forewarn_heal_guard_rejections_total",
            "Healing actions a safety guard refused, by guard.",
            ["guard"],
            registry=registry,
        ),
        pending=Gauge(
            "forewarn_heal_pending_actions", "Actions waiting for a human approval.", registry=registry
        ),
        kill_switch=Gauge(
            "forewarn_heal_kill_switch_engaged",
            "1 while the kill switch stops all healing.",
            registry=registry,
        ),
    )


@dataclass(frozen=True)
class LlmMetrics:
    """The incident reporter's LLM path (``forewarn.incidents.reporter``): tokens, spend, outcomes."""

    tokens: Counter
    cost: Counter
    latency: Histogram
    failures: Counter
    reports: Counter
    cache_hits: Counter
    budget_remaining: Gauge


def llm_metrics(registry: CollectorRegistry) -> LlmMetrics:
    return LlmMetrics(
        tokens=Counter(
            "forewarn_llm_tokens_total",
            "Tokens used by incident reports, by kind (prompt, completion).",
            ["kind"],
            registry=registry,
        ),
        cost=Counter("forewarn_llm_cost_usd_total", "Cost of incident reports in USD.", registry=registry),
        latency=Histogram(
            "forewarn_llm_request_seconds",
            "Latency of LLM report requests.",
            buckets=LLM_LATENCY_BUCKETS,
            registry=registry,
        ),
        failures=Counter(
            "forewarn_llm_failures_total",
            "LLM report attempts that failed, by reason.",
            ["reason"],
            registry=registry,
        ),
        reports=Counter(
            "forewarn_incident_reports_total",
            "Incident reports written, by source (llm, offline).",
            ["source"],
            registry=registry,
        ),
        cache_hits=Counter(
            "forewarn_llm_cache_hits_total", "Reports served from the fingerprint cache.", registry=registry
        ),
        budget_remaining=Gauge(
            "forewarn_llm_budget_remaining_usd", "LLM budget left this month.", registry=registry
        ),
    )


@dataclass(frozen=True)
class EngineMetrics:
    """Monitoring the monitor: how early warnings come, how often healing was wrong, a heartbeat."""

    lead_time: Histogram
    heals_evaluated: Counter
    false_heals: Counter
    heartbeat: Gauge
    clock: Callable[[], float]

    def beat(self, component: str) -> None:
        self.heartbeat.labels(component=component).set(self.clock())


def engine_metrics(registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> EngineMetrics:
    return EngineMetrics(
        lead_time=Histogram(
            "forewarn_warning_lead_time_seconds",
            "Seconds between forewarn's first warning and the failure it predicted.",
            ["service"],
            buckets=LEAD_TIME_BUCKETS,
            registry=registry,
        ),
        heals_evaluated=Counter(
            "forewarn_heals_evaluated_total",
            "Healing actions judged after the fact by their policy's health validation.",
            registry=registry,
        ),
        false_heals=Counter(
            "forewarn_false_heals_total",
            "Healing actions that ran and failed their validation (the false-heal rate's numerator).",
            registry=registry,
        ),
        heartbeat=Gauge(
            "forewarn_heartbeat_timestamp_seconds",
            "Wall clock of each component's last heartbeat.",
            ["component"],
            registry=registry,
        ),
        clock=clock,
    )


@dataclass(frozen=True)
class ApiMetrics:
    requests: Counter
    duration: Histogram


def api_metrics(registry: CollectorRegistry) -> ApiMetrics:
    return ApiMetrics(
        requests=Counter(
            "forewarn_api_requests_total",
            "API requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        ),
        duration=Histogram(
            "forewarn_api_request_duration_seconds",
            "API request duration by route template.",
            ["route"],
            buckets=API_LATENCY_BUCKETS,
            registry=registry,
        ),
    )


class PublisherCollector(Collector):
    """A producer's buffer, read from ``stats()`` at scrape time (``KafkaPublisher.stats``).

    Why: while Kafka is down the probe runner and the log shipper keep their telemetry in a bounded
    buffer and drop the oldest when it is full (issue #15). Those counts were only in log lines and
    exit summaries; as families Prometheus can alert on a growing buffer or any drop. A collector,
    not gauges updated on every publish: the publisher's own counts are the truth.
    """

    def __init__(self, stats: Callable[[], PublisherStats], client: str) -> None:
        self._stats = stats
        self._client = client

    def collect(self) -> list[Metric]:
        stats = self._stats()
        label = [self._client]

        def gauge(name: str, text: str, value: float) -> Metric:
            family = GaugeMetricFamily(name, text, labels=["client"])
            family.add_metric(label, value)
            return family

        def counter(name: str, text: str, value: float) -> Metric:
            family = CounterMetricFamily(name, text, labels=["client"])
            family.add_metric(label, value)
            return family

        return [
            gauge(
                "forewarn_publisher_buffered",
                "Messages waiting in the buffer, not yet handed to Kafka.",
                stats.buffered,
            ),
            gauge(
                "forewarn_publisher_in_flight",
                "Messages handed to Kafka, not yet acknowledged.",
                stats.in_flight,
            ),
            gauge(
                "forewarn_publisher_connected",
                "1 while the producer reaches Kafka.",
                1.0 if stats.connected else 0.0,
            ),
            counter("forewarn_publisher_delivered", "Messages Kafka acknowledged.", stats.delivered),
            counter(
                "forewarn_publisher_dropped",
                "Oldest messages dropped because the buffer was full.",
                stats.dropped,
            ),
            counter(
                "forewarn_publisher_rejected",
                "Messages Kafka refused for good (e.g. too large), dropped.",
                stats.rejected,
            ),
        ]
