"""Detections on the real Kafka broker reach the executor through the responder; actions come back on Kafka.

``forewarn heal run`` is an alias of ``forewarn respond``: this drives the same path (the shared
consumer and loop of ``forewarn.kafka.consume``, the ``Responder`` owning the executor) with the real
broker and the real demo service, on the healing suite's simulated clock.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from forewarn.healing.clock import ManualClock
from forewarn.incidents.responder import Responder
from forewarn.incidents.tracker import IncidentTracker
from forewarn.kafka.consume import consume_until, make_consumer
from forewarn.kafka.io import ensure_topics, make_producer, read_topic
from forewarn.musobuddy.server import RunningApp
from forewarn.settings import Settings
from tests.factories import make_detection

from .conftest import ExecutorFactory, inject, state

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_detection_on_kafka_heals_once_and_publishes_actions(
    kafka_settings: Settings,
    make_executor: ExecutorFactory,
    demo: RunningApp,
    http: httpx.Client,
    clock: ManualClock,
) -> None:
    inject(http, demo.base_url, "db_pool_leak", rate=5.0)
    clock.advance(60)
    stamp = datetime.fromtimestamp(clock.now(), tz=UTC)
    detection = make_detection(
        "database",
        stamp,
        kind="metric_anomaly",
        series="database/db_pool_usage",
        detector="zscore",
        score=0.95,
        confidence=0.9,
        value=0.9,
        expected=None,
        reason="pool usage 0.9",
    )
    topics = kafka_settings.topics
    ensure_topics(kafka_settings.kafka.bootstrap_servers, [topics.detections, topics.actions])
    producer = make_producer(kafka_settings)
    for payload in (detection.to_json_bytes(), b"{not json", detection.to_json_bytes()):  # bad + redelivery
        producer.send(topics.detections, key="database", value=payload)
    producer.send(topics.forecasts, key="x", value=json.dumps({"service": "x"}).encode())
    producer.flush(timeout=10)
    consumer = make_consumer(
        kafka_settings,
        [topics.detections],
        group_id=kafka_settings.responder.consumer_group,
        client="responder",
        assign=True,
    )
    executor = make_executor()

    def publish(topic: str, key: str, value: bytes) -> None:
        producer.send(topic, key=key, value=value)

    responder = Responder(topics, executor=executor, tracker=IncidentTracker(), publish=publish)
    stop = threading.Event()
    thread = threading.Thread(
        target=consume_until,
        args=(stop, consumer, lambda topic, value: responder.on_message(topic, value or b"")),
        kwargs={
            "flush": lambda: producer.flush(timeout=10),
            "tick": responder.tick,
            "poll_ms": 200,
            "now": executor.clock.now,
        },
        daemon=True,
    )
    thread.start()
    try:
        events = read_topic(
            kafka_settings.kafka.bootstrap_servers, topics.actions, max_messages=1, timeout=60
        )
        time.sleep(1.0)  # time for a second (wrong) action from the re-delivery to show up
        events = read_topic(kafka_settings.kafka.bootstrap_servers, topics.actions, timeout=5)
    finally:
        stop.set()
        thread.join(timeout=30)
        consumer.close()
        producer.close()
    # The re-delivered detection is recognised (one incident, one heal); the garbage is counted.
    statuses = sorted(json.loads(e.value)["status"] for e in events)
    assert statuses == ["succeeded"]
    first = json.loads(events[0].value)
    assert first["action"] == "recover-db-connections" and first["id"] and first["timestamp"]
    assert responder.rejected == 1
    assert state(http, demo.base_url)["db_pool_in_use"] < 20
    audit = demo.app.state.admin.audit.records(0, 100)
    assert [r["action"] for r in audit] == ["reset-connections"]
