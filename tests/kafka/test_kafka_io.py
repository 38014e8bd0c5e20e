"""kafka_io against the session's real broker: topics, per-key order, reading back."""

from __future__ import annotations

import time

import pytest

from forewarn.kafka.io import KafkaNotReady, ensure_topics, make_producer, read_topic, wait_until_ready
from forewarn.settings import KafkaSettings, Settings
from tests.conftest import KafkaBroker

pytestmark = pytest.mark.integration


def test_ensure_topics_is_idempotent(kafka_broker: KafkaBroker, kafka_topic_prefix: str) -> None:
    names = [f"{kafka_topic_prefix}one", f"{kafka_topic_prefix}two"]
    assert sorted(ensure_topics(kafka_broker.bootstrap, names, partitions=2)) == sorted(names)
    assert ensure_topics(kafka_broker.bootstrap, [*names, names[0]], partitions=2) == []
    # The partition count asked for is the one the topic really has.
    records_per_partition: dict[int, int] = {}
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap))
    with make_producer(settings) as producer:
        for i in range(40):
            producer.send(names[0], key=f"key-{i}", value=b"x")
        producer.flush()
    for record in read_topic(kafka_broker.bootstrap, names[0], timeout=15):
        records_per_partition[record.partition] = records_per_partition.get(record.partition, 0) + 1
    assert set(records_per_partition) == {0, 1}
    assert sum(records_per_partition.values()) == 40


def test_round_trip_keeps_order_per_key(kafka_settings: Settings) -> None:
    topic = kafka_settings.topics.probes
    ensure_topics(kafka_settings.kafka.bootstrap_servers, [topic], partitions=3)
    keys = ["auth", "database", "email", "sms", "payments"]
    sent = [(keys[i % len(keys)], f"{keys[i % len(keys)]}:{i}") for i in range(500)]
    with make_producer(kafka_settings) as producer:
        for key, value in sent:
            producer.send(topic, key=key, value=value)
        producer.flush()

    records = read_topic(kafka_settings.kafka.bootstrap_servers, topic, timeout=20, max_messages=len(sent))
    assert len(records) == len(sent)
    for key in keys:
        expected = [value for k, value in sent if k == key]
        got = [r.value.decode() for r in records if r.key == key.encode()]
        assert got == expected, f"order broken for key {key}"
        # One key always lands in one partition, which is what makes per-key order hold.
        assert len({r.partition for r in records if r.key == key.encode()}) == 1


def test_read_everything_returns_without_waiting_for_the_timeout(kafka_settings: Settings) -> None:
    topic = kafka_settings.topics.logs
    ensure_topics(kafka_settings.kafka.bootstrap_servers, [topic])
    with make_producer(kafka_settings) as producer:
        for i in range(7):
            producer.send(topic, key=None, value=b"raw \xff bytes %d" % i)
        producer.flush()
    started = time.monotonic()
    records = read_topic(kafka_settings.kafka.bootstrap_servers, topic, timeout=30)
    assert time.monotonic() - started < 15
    assert sorted(r.value for r in records) == sorted(b"raw \xff bytes %d" % i for i in range(7))


def test_read_from_end_sees_only_new_records(kafka_settings: Settings) -> None:
    # A topic of its own with one partition: the fixture pre-creates the forewarn topics with three,
    # and unkeyed records on several partitions have no order to assert.
    topic = kafka_settings.topics.metrics + ".single"
    bootstrap = kafka_settings.kafka.bootstrap_servers
    ensure_topics(bootstrap, [topic], partitions=1)
    with make_producer(kafka_settings) as producer:
        producer.send(topic, value="old")
        producer.flush()
        assert read_topic(bootstrap, topic, timeout=1.5, from_beginning=False) == []
        producer.send(topic, value="old-2")
        producer.flush()
    assert [r.value for r in read_topic(bootstrap, topic, timeout=15)] == [b"old", b"old-2"]


def test_missing_topic_reads_as_empty(kafka_broker: KafkaBroker, kafka_topic_prefix: str) -> None:
    assert read_topic(kafka_broker.bootstrap, f"{kafka_topic_prefix}absent", timeout=1.0) == []


def test_wait_until_ready_fails_clearly_without_a_broker() -> None:
    from forewarn.dev.broker import find_free_port

    port = find_free_port()
    started = time.monotonic()
    with pytest.raises(KafkaNotReady, match=f"127.0.0.1:{port}"):
        wait_until_ready(f"127.0.0.1:{port}", timeout=1.5)
    assert time.monotonic() - started < 10
