"""Prometheus metrics of the dataflow, registered on an injected registry.

Why injected: tests build a fresh ``CollectorRegistry`` per flow and read exact values back with
``registry.get_sample_value``; ``forewarn run`` serves its own registry on ``/metrics``. Labels are
low-cardinality by design: topic and kind, the *class* of a dead-letter reason (not the reason
text), and service/kind for detections.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from forewarn.events import DeadLetter, Detection, TelemetryEvent
from forewarn.ingest import reason_class

# Event lag (wall clock at parse minus event time): probes every second up to replays of an hour.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

__all__ = ["PipelineMetrics", "observe_many", "serve_metrics"]


class PipelineMetrics:
    """Counters and gauges the dataflow updates as items pass; the clock is injected."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.clock = clock
        self.events = Counter(
            "forewarn_pipeline_events_total",
            "Valid telemetry events parsed, by source topic and event kind.",
            ["topic", "kind"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "forewarn_pipeline_dead_letters_total",
            "Messages sent to the dead-letter topic, by reason class (the full reason is in the letter).",
            ["reason"],
            registry=registry,
        )
        self.detections = Counter(
            "forewarn_detections_total",
            "Detections emitted, by service and detection kind.",
            ["service", "kind"],
            registry=registry,
        )
        self.unkeyed_events = Counter(
            "forewarn_pipeline_unkeyed_events_total",
            "Valid events whose Kafka key is not the one forewarn's producers give (the service; for "
            "metrics service/name), by topic: such a series can arrive on several partitions, out of "
            "order, and split between shards (pipeline.scale_out).",
            ["topic"],
            registry=registry,
        )
        self.late_events = Counter(
            "forewarn_pipeline_late_events_total",
            "Observations ignored because they were older than the last one of their series.",
            ["signal"],
            registry=registry,
        )
        self.source_errors = Counter(
            "forewarn_pipeline_source_errors_total",
            "Errors reported by the Kafka consumer (the dataflow keeps running).",
            registry=registry,
        )
        self.source_up = Gauge(
            "forewarn_pipeline_source_up",
            "1 while every Kafka consumer of the dataflow has a broker connection up, else 0 "
            "(librdkafka's statistics, every second, and its error callback).",
            registry=registry,
        )
        self.source_contact = Gauge(
            "forewarn_pipeline_source_last_contact_timestamp_seconds",
            "Wall clock of the last report of a Kafka consumer connected to a broker: "
            "time() minus this is how long the input has been cut off.",
            registry=registry,
        )
        self.lag = Histogram(
            "forewarn_pipeline_event_lag_seconds",
            "Wall-clock time at parse minus the event's own timestamp.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.last_event = Gauge(
            "forewarn_pipeline_last_event_timestamp_seconds",
            "Event time of the newest valid event parsed (epoch seconds).",
            registry=registry,
        )
        self.heartbeat = Gauge(
            "forewarn_pipeline_heartbeat_timestamp_seconds",
            "Wall clock of the dataflow's last poll of its input: stale means the dataflow is stuck.",
            registry=registry,
        )
        self.active_series = Gauge(
            "forewarn_pipeline_active_series",
            "Series with live detector state in this process "
            "(idle ones are dropped after pipeline.series_idle_seconds).",
            registry=registry,
        )
        self.series_dropped = Counter(
            "forewarn_pipeline_series_dropped_total",
            "Observations of new series refused because pipeline.max_series series are held "
            "(a label with unbounded values, such as a request id, is the usual cause).",
            registry=registry,
        )
        self._newest_event_time = 0.0
        # labels() hashes and locks on every call; the (topic, kind) children are few, so keep them.
        self._event_children: dict[tuple[str, str], Any] = {}

    def beat(self) -> None:
        self.heartbeat.set(self.clock())

    def observe_event(self, topic: str | None, event: TelemetryEvent) -> None:
        key = (topic or "unknown", event.kind)
        child = self._event_children.get(key)
        if child is None:
            child = self._event_children[key] = self.events.labels(topic=key[0], kind=key[1])
        child.inc()
        event_time = event.timestamp.timestamp()
        self.lag.observe(max(0.0, self.clock() - event_time))
        if event_time > self._newest_event_time:  # a plain float: reading the registry is slow
            self._newest_event_time = event_time
            self.last_event.set(event_time)

    def observe_events(self, topics: Sequence[str | None], events: Sequence[TelemetryEvent]) -> None:
        """:meth:`observe_event` for a micro-batch (``topics[i]`` is where ``events[i]`` came from):
        each counter moves once per (topic, kind), the lag is observed per event at one clock reading."""
        if not events:
            return
        counts: dict[tuple[str, str], int] = {}
        now = self.clock()
        newest = self._newest_event_time
        lags: list[float] = []
        for topic, event in zip(topics, events, strict=True):
            key: tuple[str, str] = (topic or "unknown", event.kind)
            counts[key] = counts.get(key, 0) + 1
            event_time = event.timestamp.timestamp()
            lags.append(max(0.0, now - event_time))
            if event_time > newest:
                newest = event_time
        observe_many(self.lag, lags)
        for key, count in counts.items():
            child = self._event_children.get(key)
            if child is None:
                child = self._event_children[key] = self.events.labels(topic=key[0], kind=key[1])
            child.inc(count)
        if newest > self._newest_event_time:
            self._newest_event_time = newest
            self.last_event.set(newest)

    def observe_dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters.labels(reason=reason_class(letter.reason)).inc()

    def observe_detection(self, detection: Detection) -> None:
        self.detections.labels(service=detection.service, kind=detection.detection_kind).inc()

    def observe_late(self, signal: str) -> None:
        self.late_events.labels(signal=signal).inc()


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """``histogram.observe(v)`` for each ``v`` (NaN skipped), one locked add per bucket touched.

    Why: the lag is observed once per event, and ``observe`` takes two locks each time (~1.5 µs, 4 % of
    the flow's Python work). This adds to the client's own bucket counters (its ``_upper_bounds``,
    ``_buckets`` and ``_sum``, stable across prometheus-client 0.x); a test checks the exposition
    equals ``observe``'s, and a client without them is served by ``observe``.
    """
    bounds: list[float] | None = getattr(histogram, "_upper_bounds", None)
    buckets: list[Any] | None = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            histogram.observe(value)
        return
    counts: dict[int, int] = {}
    added = 0.0
    for value in values:
        if value != value:  # NaN: no bucket would take it
            continue
        index = bisect_left(bounds, value)
        counts[index] = counts.get(index, 0) + 1
        added += value
    for index, count in counts.items():
        buckets[index].inc(count)
    if counts:
        total.inc(added)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> tuple[WSGIServer, int]:
    """Serve ``/metrics`` in a daemon thread; port 0 picks a free port. Returns (server, port)."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, int(server.server_port)


def now_seconds(clock: Callable[[], datetime]) -> Callable[[], float]:
    """Adapt a datetime clock (what the detection engine uses) to the float clock metrics use."""
    return lambda: clock().timestamp()
