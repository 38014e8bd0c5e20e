"""Unit tests of KafkaPublisher's buffer: bound, drop-oldest accounting, order, warnings, recovery.

A fake producer stands in for kafka-python here so every failure mode is exact; the same behaviour
against a real broker that goes away and comes back is in ``test_publisher_kafka.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from forewarn.kafka.publisher import KafkaPublisher

pytestmark = pytest.mark.unit


@dataclass
class FakeFuture:
    is_done: bool = False
    ok: bool = True
    exception: Any = None

    def succeeded(self) -> bool:
        return self.is_done and self.ok


@dataclass
class FakeProducer:
    """Accepts sends; ``flush`` completes them (or fails them while ``broken``)."""

    broken: bool = False
    refuse_with: Exception | None = None  # flush fails every delivery with this (a broker refusal)
    refuse_sends: bool = False
    delivered: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    pending: list[tuple[tuple[str, bytes, bytes], FakeFuture]] = field(default_factory=list)
    closed: bool = False

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        if self.refuse_sends:
            raise TimeoutError("Failed to update metadata after 5.0 secs")
        assert value is not None and key is not None
        future = FakeFuture()
        self.pending.append(((topic, key, value), future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        for message, future in self.pending:
            future.is_done = True
            if self.refuse_with is not None:
                future.ok = False
                future.exception = self.refuse_with
            elif self.broken:
                future.ok = False
                future.exception = ConnectionError("broker went away")
            else:
                self.delivered.append(message)
        self.pending.clear()

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Factory:
    """Raises like kafka-python does while the broker is unreachable."""

    def __init__(self) -> None:
        self.up = False
        self.calls = 0
        self.producer = FakeProducer()

    def __call__(self) -> FakeProducer:
        self.calls += 1
        if not self.up:
            raise TimeoutError("Unable to bootstrap from 127.0.0.1:1")
        return self.producer


def values(producer: FakeProducer) -> list[bytes]:
    return [value for _, _, value in producer.delivered]


def test_buffers_while_down_drops_oldest_and_drains_in_order(caplog: pytest.LogCaptureFixture) -> None:
    clock, factory = Clock(), Factory()
    publisher = KafkaPublisher(factory, buffer_size=3, reconnect_interval=5.0, monotonic=clock)
    caplog.set_level(logging.WARNING, logger="forewarn.kafka.publisher")

    for i in range(5):
        publisher.publish("probes", "auth", f"m{i}".encode())
    stats = publisher.stats()
    assert (stats.buffered, stats.dropped, stats.delivered, stats.connected) == (3, 2, 0, False)
    assert factory.calls == 1  # no reconnect storm: one attempt per reconnect_interval
    assert "unavailable" in caplog.text and "buffering" in caplog.text
    assert "dropped oldest" in caplog.text

    factory.up = True
    clock.t += 4.0
    publisher.publish("probes", "auth", b"m5")  # too soon to retry: still buffered
    assert factory.calls == 1 and publisher.stats().dropped == 3

    clock.t += 1.5
    publisher.flush()
    assert values(factory.producer) == [b"m3", b"m4", b"m5"]
    stats = publisher.stats()
    assert (stats.buffered, stats.in_flight, stats.delivered, stats.dropped, stats.connected) == (
        0,
        0,
        3,
        3,
        True,
    )
    assert "is back" in caplog.text


def test_failed_deliveries_return_to_the_front_in_order() -> None:
    clock, factory = Clock(), Factory()
    factory.up = True
    publisher = KafkaPublisher(factory, buffer_size=10, reconnect_interval=1.0, monotonic=clock)
    factory.producer.broken = True
    for i in range(3):
        publisher.publish("logs", "svc", f"a{i}".encode())
    publisher.flush()  # all three fail
    stats = publisher.stats()
    assert (stats.buffered, stats.in_flight, stats.connected) == (3, 0, False)

    publisher.publish("logs", "svc", b"a3")  # Kafka marked down: queued behind the failed ones
    factory.producer.broken = False
    clock.t += 1.0
    publisher.flush()
    assert values(factory.producer) == [b"a0", b"a1", b"a2", b"a3"]
    assert publisher.stats().delivered == 4


def test_send_that_raises_marks_kafka_down_and_keeps_the_message() -> None:
    clock, factory = Clock(), Factory()
    factory.up = True
    factory.producer.refuse_sends = True
    publisher = KafkaPublisher(factory, buffer_size=10, reconnect_interval=2.0, monotonic=clock)
    publisher.publish("probes", "db", b"x")
    assert publisher.stats().buffered == 1 and not publisher.stats().connected
    factory.producer.refuse_sends = False
    clock.t += 2.0
    publisher.flush()
    assert values(factory.producer) == [b"x"]


def test_keys_and_topics_are_passed_through() -> None:
    factory = Factory()
    factory.up = True
    publisher = KafkaPublisher(factory, monotonic=Clock())
    publisher.publish("forewarn.probes", "payments", b"{}")
    publisher.flush()
    assert factory.producer.delivered == [("forewarn.probes", b"payments", b"{}")]


def test_close_reports_what_is_lost(caplog: pytest.LogCaptureFixture) -> None:
    factory = Factory()
    publisher = KafkaPublisher(factory, buffer_size=2, monotonic=Clock())
    caplog.set_level(logging.WARNING, logger="forewarn.kafka.publisher")
    for i in range(4):
        publisher.publish("probes", "auth", f"m{i}".encode())
    publisher.close()
    assert "closing with 2 undelivered messages" in caplog.text
    assert "2 dropped earlier" in caplog.text
    with pytest.raises(RuntimeError, match="closed"):
        publisher.publish("probes", "auth", b"late")


def test_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    clock, factory = Clock(), Factory()
    publisher = KafkaPublisher(
        factory, buffer_size=1000, warn_interval=30.0, reconnect_interval=1e9, monotonic=clock
    )
    caplog.set_level(logging.WARNING, logger="forewarn.kafka.publisher")
    for i in range(200):
        publisher.publish("probes", "auth", f"m{i}".encode())
    assert len(caplog.records) == 1
    clock.t += 31.0
    publisher.publish("probes", "auth", b"later")
    assert len(caplog.records) == 2
    assert "201 buffered" in caplog.records[-1].getMessage()


def test_buffer_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        KafkaPublisher(Factory(), buffer_size=0)


def test_a_producer_that_breaks_for_good_is_replaced() -> None:
    clock, factory = Clock(), Factory()
    factory.up = True
    publisher = KafkaPublisher(factory, reconnect_interval=1.0, monotonic=clock)
    publisher.publish("logs", "svc", b"a")  # in flight on the first producer
    broken = factory.producer

    def closed(*_: object, **__: object) -> FakeFuture:
        raise RuntimeError("producer is closed")  # not retriable: the object itself is dead

    broken.send = closed  # type: ignore[method-assign]
    factory.producer = FakeProducer()
    publisher.publish("logs", "svc", b"b")
    assert broken.closed and publisher.stats().buffered == 2  # "a" re-queued ahead of "b"
    clock.t += 1.0
    publisher.flush()
    assert factory.calls == 2
    assert values(factory.producer) == [b"a", b"b"]


class RecordTooLarge(Exception):
    retriable = False  # like kafka.errors.MessageSizeTooLargeError


def test_a_poison_message_is_dropped_after_repeated_refusals_and_does_not_block_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, factory = Clock(), Factory()
    factory.up = True
    publisher = KafkaPublisher(factory, reconnect_interval=1.0, monotonic=clock)
    caplog.set_level(logging.ERROR, logger="forewarn.kafka.publisher")

    def picky_send(topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        if value == b"huge":
            raise RecordTooLarge("message is 2000000 bytes")
        return FakeProducer.send(factory.producer, topic, value, key)

    def make() -> FakeProducer:
        factory.producer = FakeProducer()
        factory.producer.send = picky_send  # type: ignore[method-assign]
        return factory.producer

    publisher.producer_factory = make
    publisher.publish("logs", "svc", b"before")
    publisher.publish("logs", "svc", b"huge")
    publisher.publish("logs", "svc", b"after")
    for _ in range(4):
        clock.t += 1.0
        publisher.flush()
    stats = publisher.stats()
    assert stats.rejected == 1 and stats.buffered == 0 and stats.in_flight == 0
    assert b"after" in values(factory.producer) and b"huge" not in values(factory.producer)
    assert "refused a message 3 times" in caplog.text and "RecordTooLarge" in caplog.text


def test_delivery_refusals_are_retried_then_dropped_without_marking_kafka_down() -> None:
    clock, factory = Clock(), Factory()
    factory.up = True
    publisher = KafkaPublisher(factory, monotonic=clock)
    factory.producer.refuse_with = RecordTooLarge("too large")
    publisher.publish("logs", "svc", b"x")
    for _ in range(3):
        publisher.flush()
        assert publisher.stats().connected  # the broker answered: it is not down
    stats = publisher.stats()
    assert (stats.rejected, stats.buffered, stats.in_flight, stats.delivered) == (1, 0, 0, 0)


@dataclass
class StuckProducer(FakeProducer):
    """Accepts sends and never answers them, even on flush: the stall seen after a broker outage."""

    def flush(self, timeout: float | None = None) -> None:
        return


def test_a_producer_that_never_answers_is_replaced_and_its_sends_go_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    producers: list[FakeProducer] = [StuckProducer(), FakeProducer()]
    made: list[FakeProducer] = []

    def factory() -> FakeProducer:
        made.append(producers[len(made)])
        return made[-1]

    publisher = KafkaPublisher(factory, stall_timeout=30.0, reconnect_interval=5.0, monotonic=clock)
    for i in range(3):
        publisher.publish("t", "k", b"%d" % i)
    clock.t += 29.0
    publisher.flush()
    assert publisher.stats().in_flight == 3 and len(made) == 1  # within the bound: still waiting
    clock.t += 2.0
    with caplog.at_level(logging.WARNING, logger="forewarn.kafka.publisher"):
        publisher.flush()
    assert made[0].closed and "replacing the producer" in caplog.text
    assert publisher.stats().buffered == 3 and not publisher.stats().connected
    clock.t += 5.0  # the reconnect interval
    publisher.publish("t", "k", b"3")
    publisher.flush()
    assert len(made) == 2 and values(made[1]) == [b"0", b"1", b"2", b"3"]  # in order, none lost
    assert publisher.stats().delivered == 4 and publisher.stats().dropped == 0
