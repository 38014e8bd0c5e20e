"""Detections and forecasts on the real Kafka broker reach the executor; actions come back on Kafka."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import httpx
import pytest
from kafka import KafkaConsumer

from forewarn.healing.clock import ManualClock
from forewarn.healing.runner import HealingRunner
from forewarn.kafka.io import make_producer, read_topic
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
    producer = make_producer(kafka_settings)
    for payload in (detection.to_json_bytes(), b"{not json", detection.to_json_bytes()):  # bad + redelivery
        producer.send(topics.detections, key="database", value=payload)
    producer.send(topics.forecasts, key="x", value=json.dumps({"service": "x"}).encode())
    producer.flush(timeout=10)
    consumer = KafkaConsumer(
        topics.detections,
        topics.forecasts,
        bootstrap_servers=kafka_settings.kafka.bootstrap_servers,
        group_id=kafka_settings.kafka.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    executor = make_executor()
    runner = HealingRunner(
        executor,
        consumer,
        producer,
        {topics.detections: "detection", topics.forecasts: "forecast"},
        topics.actions,
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), kwargs={"poll_ms": 200}, daemon=True)
    thread.start()
    try:
        events = read_topic(
            kafka_settings.kafka.bootstrap_servers, topics.actions, max_messages=2, timeout=60
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        consumer.close()
        producer.close()
    statuses = sorted(json.loads(e.value)["status"] for e in events)
    assert statuses == ["duplicate", "succeeded"]
    first = next(json.loads(e.value) for e in events if json.loads(e.value)["status"] == "succeeded")
    assert first["action"] == "recover-db-connections" and first["id"] and first["timestamp"]
    assert runner.stats.ignored == 2 and runner.stats.triggers == 2
    assert state(http, demo.base_url)["db_pool_in_use"] < 20
    audit = demo.app.state.admin.audit.records(0, 100)
    assert [r["action"] for r in audit] == ["reset-connections"]
