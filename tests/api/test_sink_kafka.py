"""The store sink against a REAL Kafka broker: every kind lands once, duplicates and garbage included."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from forewarn.kafka.io import ensure_topics, make_producer
from forewarn.settings import Settings
from forewarn.store.db import Store
from forewarn.store.records import Kind
from forewarn.store.sink import StoreSink, make_consumer, topic_kinds
from tests.api.factories import T0, action, detection, forecast, incident, probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _drain(sink: StoreSink, store: Store, expected: dict[Kind, int], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sink.poll_once(timeout_ms=500)
        if all(store.count(kind) >= n for kind, n in expected.items()) and sum(
            s.messages for s in store.topics()
        ) >= sum(expected.values()):
            return
    pytest.fail(f"sink did not catch up: {[(k, store.count(k)) for k in expected]}")


def test_sink_materialises_every_topic_once(kafka_settings: Settings, store: Store) -> None:
    topics = kafka_settings.topics
    kinds = topic_kinds(kafka_settings)
    ensure_topics(kafka_settings.kafka.bootstrap_servers, list(kinds), partitions=2)
    det = [detection("auth", T0 + timedelta(seconds=i)) for i in range(20)]
    prb = [probe("database", T0 + timedelta(seconds=i), ok=i % 3 != 0) for i in range(30)]
    fc = [forecast("database", "db_pool_in_use", T0 + timedelta(minutes=i)) for i in range(5)]
    inc_open = incident("inc-7", "payments", T0)
    inc_resolved = incident("inc-7", "payments", T0, status="resolved", resolved=T0 + timedelta(minutes=4))
    act = action("act-1", "database", T0, status="succeeded")
    producer = make_producer(kafka_settings)
    try:
        import json

        def send(topic: str, payload: dict[str, object]) -> None:
            producer.send(topic, key=str(payload["service"]), value=json.dumps(payload))

        for d in det + det[:7]:  # seven duplicated deliveries
            send(topics.detections, d)
        for p in prb + prb[:5]:
            send(topics.probes, p)
        for f in fc + fc:
            send(topics.forecasts, f)
        send(topics.incidents, inc_open)
        send(topics.incidents, inc_resolved)
        send(topics.incidents, inc_open)  # stale re-delivery after the resolution
        send(topics.actions, act)
        producer.send(topics.detections, key="auth", value=b"\x00garbage")
        producer.send(topics.actions, key="x", value=b'{"service": "x"}')
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)

    consumer = make_consumer(kafka_settings, list(kinds))
    sink = StoreSink(store, consumer, kinds)
    try:
        _drain(
            sink,
            store,
            {Kind.DETECTION: 20, Kind.PROBE: 30, Kind.FORECAST: 5, Kind.INCIDENT: 1, Kind.ACTION: 1},
        )
        for _ in range(3):  # anything more would show up as extra rows
            sink.poll_once(timeout_ms=300)
    finally:
        consumer.close()

    assert store.count(Kind.DETECTION) == 20
    assert store.count(Kind.PROBE) == 30
    assert store.count(Kind.FORECAST) == 5
    assert store.count(Kind.INCIDENT) == 1
    assert store.get(Kind.INCIDENT, "inc-7")["status"] == "resolved"  # type: ignore[index]
    assert store.count(Kind.ACTION) == 1
    assert sink.stats.rejected == {"detection": 1, "action": 1}
    state = {s.topic: s for s in store.topics()}
    assert state[topics.detections].messages == 28 and state[topics.detections].rejected == 1
    assert state[topics.probes].last_event_ts == pytest.approx((T0 + timedelta(seconds=29)).timestamp())


def test_a_restarted_sink_re_reading_the_topic_adds_nothing(kafka_settings: Settings, store: Store) -> None:
    """A new consumer group replays everything (as after losing offsets): rows stay the same."""
    kinds = topic_kinds(kafka_settings)
    ensure_topics(kafka_settings.kafka.bootstrap_servers, list(kinds), partitions=1)
    producer = make_producer(kafka_settings)
    import json

    for i in range(10):
        d = detection("sms", T0 + timedelta(seconds=i))
        producer.send(kafka_settings.topics.detections, key="sms", value=json.dumps(d))
    producer.flush(timeout=30)
    producer.close(timeout=10)
    for group in ("first", "second"):
        consumer = make_consumer(
            kafka_settings, list(kinds), group_id=f"{kafka_settings.kafka.consumer_group}-{group}"
        )
        sink = StoreSink(store, consumer, kinds)
        try:
            deadline = time.monotonic() + 60
            while sink.stats.written.get("detection", 0) < 10 and time.monotonic() < deadline:
                sink.poll_once(timeout_ms=500)
        finally:
            consumer.close()
        assert sink.stats.written["detection"] == 10
        assert store.count(Kind.DETECTION) == 10
