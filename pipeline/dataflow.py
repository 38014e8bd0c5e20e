"""The Bytewax dataflow: wiring only (the logic lives in plain, separately tested modules).

    input (Kafka topics: probes, logs, metrics), one item per poll (a micro-batch of messages)
      -> parse/validate         forewarn.ingest.parse_message; consumer errors counted, never fatal
         -> dead letters        -> dead-letter topic (reason + original bytes)
      -> observations           one per series: <svc>/latency_ms, <svc>/failure, <svc>/<metric>, ...
         grouped by series      (series, [observations in order]) per batch
      -> detect (op.stateful)   per-series detector state with a cheap snapshot
      -> detections topic       keyed by service
      -> gauges (probe details, metric samples named in settings.forecast.gauges)
         -> grouped by series -> forecast (op.stateful, TrendForecaster)
            -> forecasts topic    keyed by service
            -> exhaustion_forecast detections -> detections topic
      -> log records -> grouped by service -> log patterns (op.stateful, drain3) -> detections topic
         -> per-service template digests -> log-templates topic (the responder's log evidence)

Tests swap the Kafka source and sinks for ``TestingSource``/``TestingSink`` through
:func:`build_flow`'s arguments; everything else is the production flow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSink, KafkaSource
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import FixedPartitionedSource
from bytewax.outputs import Sink
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END
from prometheus_client import CollectorRegistry

from forewarn.events import Detection, ForecastEvent
from forewarn.field_crypto import cipher_from_settings
from forewarn.kafka.client_config import librdkafka_config
from forewarn.pipeline.detection import DetectionEngine, DetectorFactory
from forewarn.pipeline.forecast_steps import (
    ForecastSteps,
    LogOutput,
    digest_message,
    forecast_message,
    is_digest,
    is_forecast,
    only_detection,
)
from forewarn.pipeline.heartbeat import HeartbeatSource
from forewarn.pipeline.kafka_input import Shard, ShardedKafkaSource
from forewarn.pipeline.messages import OutMessage, detection_message
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.snapshot_seal import sealed_builder
from forewarn.pipeline.source_health import SourceHealth, WatchedKafkaSource, librdkafka_logger
from forewarn.pipeline.steps import FlowSteps, dead_letter_messages
from forewarn.settings import Settings

__all__ = ["FlowSinks", "build_flow", "kafka_sinks", "kafka_source", "utc_now"]

_Side = TypeVar("_Side", ForecastEvent | Detection, LogOutput)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FlowSinks:
    """Where the output streams go (Kafka topics in production, lists in tests).

    ``forecasts`` / ``log_templates`` None drops the forecasts / the template digests (a test that
    only looks at detections).
    """

    detections: Sink[OutMessage]
    dead_letters: Sink[OutMessage]
    forecasts: Sink[OutMessage] | None = None
    log_templates: Sink[OutMessage] | None = None


def _brokers(settings: Settings) -> list[str]:
    return [b.strip() for b in settings.kafka.bootstrap_servers.split(",") if b.strip()]


def _client_config(settings: Settings) -> dict[str, Any]:
    # TLS and SASL as every other client of forewarn has them (forewarn.kafka.client_config).
    # librdkafka's own lines go through Python logging (and its repeat filter), not raw to stderr.
    return {
        **librdkafka_config(settings.kafka),
        "client.id": f"{settings.kafka.client_id}-dataflow",
        "logger": librdkafka_logger(),
    }


def kafka_source(
    settings: Settings,
    *,
    from_beginning: bool | None = None,
    tail: bool = True,
    health: SourceHealth | None = None,
    shard: Shard | None = None,
) -> KafkaSource:
    """The input topics. ``tail=False`` stops at the current end (benchmarks, batch replays).

    With ``health``, the consumers report errors and broker contact to it (``forewarn run``). With
    ``shard``, only that shard's partitions (``pipeline.scale_out: shards``).
    """
    earliest = settings.pipeline.start_from == "earliest" if from_beginning is None else from_beginning
    options: dict[str, Any] = {
        "tail": tail,
        "starting_offset": OFFSET_BEGINNING if earliest else OFFSET_END,
        "add_config": _client_config(settings),
        "batch_size": settings.pipeline.batch_size,
        "raise_on_errors": False,
    }
    brokers, topics = _brokers(settings), settings.topics.inputs()
    if health is not None:
        return WatchedKafkaSource(health, brokers, topics, shard=shard, **options)
    return ShardedKafkaSource(brokers, topics, shard=shard, **options)


def kafka_sinks(settings: Settings) -> FlowSinks:
    config = _client_config(settings)
    return FlowSinks(
        detections=KafkaSink(_brokers(settings), settings.topics.detections, add_config=config),
        dead_letters=KafkaSink(_brokers(settings), settings.topics.dead_letter, add_config=config),
        forecasts=KafkaSink(_brokers(settings), settings.topics.forecasts, add_config=config),
        log_templates=KafkaSink(_brokers(settings), settings.topics.log_templates, add_config=config),
    )


def build_flow(
    settings: Settings,
    source: FixedPartitionedSource[Any, Any] | None = None,
    sinks: FlowSinks | None = None,
    *,
    registry: CollectorRegistry | None = None,
    metrics: PipelineMetrics | None = None,
    clock: Callable[[], datetime] = utc_now,
    detector_factory: DetectorFactory | None = None,
    flow_id: str = "forewarn",
    stop: threading.Event | None = None,
) -> Dataflow:
    """The production dataflow; ``source``/``sinks`` default to Kafka from ``settings``.

    Setting ``stop`` ends the input: the flow drains, flushes its sinks and returns. ``metrics``
    (built on ``registry``) is for a caller that feeds them from elsewhere too (the source's health).
    """
    metrics = metrics or PipelineMetrics(registry or CollectorRegistry(), clock=lambda: clock().timestamp())
    engine = DetectionEngine(settings.detector, clock, detector_factory)
    steps = FlowSteps(
        settings.ingest, engine, metrics, clock, settings.pipeline.series_idle, settings.pipeline.max_series
    )
    side = ForecastSteps(settings, metrics, metrics.registry, clock, admit=steps.admit)  # forecasts, logs
    source = source if source is not None else kafka_source(settings)
    sinks = sinks or kafka_sinks(settings)
    cipher = cipher_from_settings(settings.security)  # seals recovery snapshots; None = plain

    flow = Dataflow(flow_id)
    # One item per poll of the source (a micro-batch); keyed steps get one item per key per batch.
    batches = op.input("input", flow, HeartbeatSource(source, metrics.beat, stop, batched=True))
    parsed = op.map("parse", batches, steps.parse_batch)
    letters = op.flat_map("dead-letter-messages", parsed, dead_letter_messages)
    op.output("dead-letters-out", letters, sinks.dead_letters)

    by_series = op.flat_map("observations-by-series", parsed, steps.observations)
    detections = op.stateful("detect", by_series, sealed_builder(steps.series_logic, cipher, "detect"))
    messages = op.map("detection-message", detections, lambda kv: detection_message(kv[1]))

    by_gauge = op.flat_map("gauges-by-series", parsed, side.gauge_groups)
    forecasted = op.stateful("forecast", by_gauge, sealed_builder(side.forecast_logic, cipher, "forecast"))
    exhaustion = _split("forecast", forecasted, is_forecast, forecast_message, sinks.forecasts, "exhaustion")

    logs = op.flat_map("logs-by-service", parsed, side.log_groups)
    patterns = op.stateful("log-patterns", logs, sealed_builder(side.log_logic, cipher, "log-patterns"))
    pattern_messages = _split(
        "digest", patterns, is_digest, digest_message, sinks.log_templates, "log-pattern"
    )

    all_messages = op.merge("all-detections", messages, exhaustion, pattern_messages)
    op.output("detections-out", all_messages, sinks.detections)
    return flow


def _split(
    name: str,
    stream: Stream[tuple[str, _Side]],
    is_side: Callable[[tuple[str, _Side]], bool],
    side_message: Callable[[tuple[str, _Side]], OutMessage],
    side_sink: Sink[OutMessage] | None,
    detections_name: str,
) -> Stream[OutMessage]:
    """Send what ``is_side`` picks (forecasts, digests) to ``side_sink`` (dropped when None); the rest
    of ``stream`` are detections, returned as messages for the detections topic."""
    branch = op.branch(f"is-{name}", stream, is_side)
    if side_sink is not None:
        op.output(f"{name}s-out", op.map(f"{name}-message", branch.trues, side_message), side_sink)
    return op.map(
        f"{detections_name}-message", branch.falses, lambda kv: detection_message(only_detection(kv))
    )
