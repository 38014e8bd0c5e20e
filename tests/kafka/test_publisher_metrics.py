"""The publisher's buffer counts as Prometheus families, read from its stats at scrape time."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from forewarn.kafka.publisher import KafkaPublisher, PublisherStats
from forewarn.metrics import PublisherCollector

pytestmark = pytest.mark.unit


def test_collector_reports_the_stats_of_the_moment_per_client() -> None:
    stats = [PublisherStats(buffered=7, in_flight=2, delivered=40, dropped=3, connected=False, rejected=1)]
    registry = CollectorRegistry()
    registry.register(PublisherCollector(lambda: stats[-1], "logs"))
    value = registry.get_sample_value
    assert value("forewarn_publisher_buffered", {"client": "logs"}) == 7
    assert value("forewarn_publisher_in_flight", {"client": "logs"}) == 2
    assert value("forewarn_publisher_delivered_total", {"client": "logs"}) == 40
    assert value("forewarn_publisher_dropped_total", {"client": "logs"}) == 3
    assert value("forewarn_publisher_rejected_total", {"client": "logs"}) == 1
    assert value("forewarn_publisher_connected", {"client": "logs"}) == 0
    stats.append(PublisherStats(buffered=0, in_flight=0, delivered=50, dropped=3, connected=True))
    assert value("forewarn_publisher_buffered", {"client": "logs"}) == 0
    assert value("forewarn_publisher_connected", {"client": "logs"}) == 1


def test_a_real_publisher_with_no_broker_counts_buffered_then_dropped() -> None:
    """KafkaPublisher itself (its factory failing as with the broker down): the bound shows as drops."""

    def no_broker() -> object:
        raise OSError("connection refused")

    publisher = KafkaPublisher(no_broker, buffer_size=5, reconnect_interval=60.0)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    registry.register(PublisherCollector(publisher.stats, "probe"))
    for i in range(8):
        publisher.publish("t", "k", b"%d" % i)
    assert registry.get_sample_value("forewarn_publisher_buffered", {"client": "probe"}) == 5
    assert registry.get_sample_value("forewarn_publisher_dropped_total", {"client": "probe"}) == 3
    assert registry.get_sample_value("forewarn_publisher_connected", {"client": "probe"}) == 0
