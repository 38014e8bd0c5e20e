"""KafkaPublisher against a real broker that is unreachable first and then comes back.

The broker is the session's real Kafka; "down" is a reserved local port that refuses connections,
and "back" is a TCP proxy starting to listen on that same port and forwarding to the broker. So the
publisher sees exactly what it would see in production: the same bootstrap address failing, then
answering.
"""

from __future__ import annotations

import logging
import time

import pytest

from forewarn.kafka.io import read_topic
from forewarn.kafka.publisher import KafkaPublisher, kafka_producer_factory
from tests.conftest import KafkaBroker
from tests.probe.conftest import TcpProxy

pytestmark = pytest.mark.integration


def _address(bootstrap: str) -> tuple[str, int]:
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    return host, int(port)


def test_buffers_while_kafka_is_down_then_drains_in_order(
    kafka_broker: KafkaBroker,
    kafka_topic_prefix: str,
    tcp_proxy_factory: type[TcpProxy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = f"{kafka_topic_prefix}probes"
    proxy = tcp_proxy_factory(_address(bootstrap))
    publisher = KafkaPublisher(
        kafka_producer_factory(f"127.0.0.1:{proxy.port}", "forewarn-test", timeout_seconds=1.0),
        buffer_size=5,
        reconnect_interval=0.5,
        name="test kafka",
    )
    caplog.set_level(logging.WARNING, logger="forewarn.kafka.publisher")
    try:
        for i in range(8):
            publisher.publish(topic, "auth", f"m{i}".encode())
        stats = publisher.stats()
        assert (stats.buffered, stats.dropped, stats.delivered, stats.connected) == (5, 3, 0, False)
        assert "test kafka unavailable" in caplog.text

        proxy.start()  # Kafka is back at the same address
        time.sleep(0.6)  # past reconnect_interval
        publisher.publish(topic, "auth", b"m8")  # one more drop (buffer full), then the drain
        deadline = time.monotonic() + 30
        while publisher.stats().delivered < 5 and time.monotonic() < deadline:
            publisher.flush(timeout=5.0)
            time.sleep(0.2)
        stats = publisher.stats()
        assert (stats.buffered, stats.in_flight, stats.delivered, stats.dropped) == (0, 0, 5, 4)
        assert "is back" in caplog.text
    finally:
        publisher.close(timeout=5.0)

    records = read_topic(bootstrap, topic, timeout=20.0, max_messages=5)
    assert [r.value for r in records] == [b"m4", b"m5", b"m6", b"m7", b"m8"]
    assert {r.key for r in records} == {b"auth"}
