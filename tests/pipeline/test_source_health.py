"""SourceHealth: librdkafka's error and statistics callbacks become the source's up/contact metrics.

The real-broker outage is in test_kafka_outage.py; these pin the rules with librdkafka's own shapes.
"""

from __future__ import annotations

import json
import logging

import pytest
from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.pipeline.source_health import SourceHealth

pytestmark = pytest.mark.unit


def stats(*states: str) -> str:
    """A librdkafka statistics document (only what is read) with one broker per state."""
    brokers = {
        f"127.0.0.1:9092/{i}": {"name": f"127.0.0.1:9092/{i}", "state": s} for i, s in enumerate(states)
    }
    return json.dumps({"name": "forewarn-dataflow#consumer-1", "brokers": brokers, "topics": {}})


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def health() -> tuple[SourceHealth, CollectorRegistry, Clock]:
    registry = CollectorRegistry()
    clock = Clock()
    return SourceHealth(PipelineMetrics(registry), clock), registry, clock


def test_up_when_every_consumer_has_a_broker_up_down_when_one_has_none(
    health: tuple[SourceHealth, CollectorRegistry, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    source, registry, clock = health
    value = registry.get_sample_value
    assert value("forewarn_pipeline_source_up") == 0  # nothing reported yet
    source.on_stats("0-probes", stats("UP"))
    source.on_stats("1-probes", stats("INIT", "UP"))  # the bootstrap entry, then the real broker
    assert value("forewarn_pipeline_source_up") == 1
    assert value("forewarn_pipeline_source_last_contact_timestamp_seconds") == 5000.0

    clock.now += 3
    with caplog.at_level(logging.WARNING, logger="forewarn.pipeline.source_health"):
        source.on_stats("1-probes", stats("CONNECT", "DOWN"))
        assert value("forewarn_pipeline_source_up") == 0
        assert value("forewarn_pipeline_source_last_contact_timestamp_seconds") == 5000.0
        source.on_stats("1-probes", stats("TRY_CONNECT"))
        clock.now += 4.5
        source.on_stats("1-probes", stats("UP"))
    assert value("forewarn_pipeline_source_up") == 1
    assert value("forewarn_pipeline_source_last_contact_timestamp_seconds") == 5007.5
    assert [r.getMessage() for r in caplog.records] == [
        "lost contact with the Kafka broker (the dataflow keeps running): no broker connection up",
        "Kafka broker reachable again after 4.5 s",
    ]


def test_errors_are_counted_and_a_transport_error_means_down_at_once(
    health: tuple[SourceHealth, CollectorRegistry, Clock],
) -> None:
    source, registry, _ = health
    value = registry.get_sample_value
    source.on_stats("0-logs", stats("UP"))
    source.on_error("0-logs", KafkaError(KafkaError._MSG_TIMED_OUT))  # an error, but not lost contact
    assert value("forewarn_pipeline_source_errors_total") == 1
    assert value("forewarn_pipeline_source_up") == 1
    source.on_error("0-logs", KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    source.on_error("0-logs", KafkaError(KafkaError._TRANSPORT, "Connection refused"))
    assert value("forewarn_pipeline_source_errors_total") == 3
    assert value("forewarn_pipeline_source_up") == 0
    source.on_stats("0-logs", stats("UP"))
    assert value("forewarn_pipeline_source_up") == 1


def test_consumers_still_connecting_at_start_log_no_lost_contact(
    health: tuple[SourceHealth, CollectorRegistry, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    source, registry, _ = health
    with caplog.at_level(logging.WARNING, logger="forewarn.pipeline.source_health"):
        source.on_stats("0-metrics", stats("CONNECT"))
        source.on_stats("0-metrics", stats("UP"))
    assert registry.get_sample_value("forewarn_pipeline_source_up") == 1
    assert caplog.records == []
