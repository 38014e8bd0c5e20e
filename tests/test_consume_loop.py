"""The shared consumer loop: every message handled in order, flush before commit, ticks on the clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest

from forewarn.kafka.consume import ConsumeLoop, consume_until

pytestmark = pytest.mark.unit


@dataclass
class Msg:
    topic: str
    value: bytes | None


class ScriptedConsumer:
    """Hands out the scripted batches, then sets ``stop``; logs every call into a shared journal."""

    def __init__(
        self, batches: list[dict[Any, list[Msg]]], stop: threading.Event, journal: list[str]
    ) -> None:
        self.batches = batches
        self.stop = stop
        self.journal = journal

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Msg]]:
        if not self.batches:
            self.stop.set()
            return {}
        return self.batches.pop(0)

    def commit(self, offsets: Any = None, timeout_ms: int | None = None) -> None:
        assert timeout_ms is not None, "a commit must not wait on the broker forever"
        self.journal.append("commit")


def test_messages_are_handled_in_order_and_committed_after_the_flush() -> None:
    stop, journal = threading.Event(), list[str]()
    batches: list[dict[Any, list[Msg]]] = [
        {"p0": [Msg("a", b"1"), Msg("a", b"2")], "p1": [Msg("b", None)]},
        {},  # an empty poll: nothing to flush or commit
        {"p0": [Msg("a", b"3")]},
    ]
    consumer = ScriptedConsumer(batches, stop, journal)
    stats = consume_until(
        stop,
        consumer,
        lambda topic, value: journal.append(f"{topic}:{value!r}"),
        flush=lambda: journal.append("flush"),
    )
    assert journal == ["a:b'1'", "a:b'2'", "b:None", "flush", "commit", "a:b'3'", "flush", "commit"]
    assert (stats.messages, stats.batches, stats.ticks) == (4, 2, 0)


def test_a_failing_handler_leaves_the_batch_uncommitted() -> None:
    """At-least-once: the exception escapes before the commit, so the broker re-delivers the batch."""
    stop, journal = threading.Event(), list[str]()

    def handle(topic: str, value: bytes | None) -> None:
        if value == b"bad":
            raise RuntimeError("handler failed")
        journal.append(topic)

    consumer = ScriptedConsumer([{"p": [Msg("a", b"ok"), Msg("a", b"bad")]}], stop, journal)
    with pytest.raises(RuntimeError):
        consume_until(stop, consumer, handle, flush=lambda: journal.append("flush"))
    assert journal == ["a"]


def test_ticks_follow_the_injected_clock_and_flush_what_they_published() -> None:
    stop, journal = threading.Event(), list[str]()
    clock = [0.0]

    def now() -> float:
        clock[0] += 2.0  # every call moves the simulated clock 2 s
        return clock[0]

    consumer = ScriptedConsumer([{}] * 10, stop, journal)
    stats = consume_until(
        stop,
        consumer,
        lambda topic, value: None,
        flush=lambda: journal.append("flush"),
        tick=lambda: journal.append("tick"),
        tick_seconds=5.0,
        now=now,
    )
    # 11 polls, 2 s per clock read: ticks at t=4 (at once), 12, 20, 28 (5 s after each, read at 6, 14, 22)
    assert stats.ticks == journal.count("tick") == journal.count("flush") == 4
    assert "commit" not in journal  # empty polls commit nothing


class AssignedConsumer(ScriptedConsumer):
    """Also has an assignment and positions, like a ``KafkaConsumer`` given partitions."""

    def __init__(self, stop: threading.Event, journal: list[str], assignment: set[str]) -> None:
        super().__init__([{}, {"p0": [Msg("a", b"1")]}, {}], stop, journal)
        self.assigned = assignment
        self.positions = {"p0": 4, "p1": 9}

    def assignment(self) -> set[str]:
        return self.assigned

    def position(self, tp: str, timeout_ms: int | None = None) -> int:
        assert timeout_ms is not None, "a position must not wait on the broker forever"
        return self.positions[tp]

    def commit(self, offsets: dict[str, Any] | None = None, timeout_ms: int | None = None) -> None:
        assert timeout_ms is not None, "a commit must not wait on the broker forever"
        if offsets is None:
            self.journal.append("commit")
        else:
            self.journal.append("mark " + ",".join(f"{tp}@{o.offset}" for tp, o in sorted(offsets.items())))


def test_each_assigned_partition_gets_its_position_committed_once_even_if_never_read() -> None:
    """A partition never read from still has a commit, so the watchdog can see work waiting there."""
    stop, journal = threading.Event(), list[str]()
    consumer = AssignedConsumer(stop, journal, {"p0", "p1"})
    consume_until(stop, consumer, lambda topic, value: journal.append(f"handle {topic}"))
    # marked after the first (empty) poll; later polls mark nothing new, and reads still commit
    assert journal == ["mark p0@4,p1@9", "handle a", "commit"]


class FlakyBroker(AssignedConsumer):
    """The broker goes away: a poll, a position and a commit fail once each, as kafka-python's do."""

    def __init__(self, stop: threading.Event, journal: list[str]) -> None:
        super().__init__(stop, journal, {"p0"})
        self.batches = [{"p0": [Msg("a", b"1")]}, {}, {}, {"p0": [Msg("a", b"2")]}, {}]
        self.failures = {"position": 1, "commit": 1, "poll": 1}

    def _fail(self, call: str) -> None:
        from kafka.errors import KafkaTimeoutError

        if self.failures[call]:
            self.failures[call] -= 1
            self.journal.append(f"{call} failed")
            raise KafkaTimeoutError(f"{call} timed out")

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Msg]]:
        if len(self.batches) == 3:  # the third poll
            self._fail("poll")
        return super().poll(timeout_ms, max_records)

    def position(self, tp: str, timeout_ms: int | None = None) -> int:
        self._fail("position")
        return super().position(tp, timeout_ms)

    def commit(self, offsets: dict[str, Any] | None = None, timeout_ms: int | None = None) -> None:
        self._fail("commit")
        super().commit(offsets, timeout_ms)


def test_kafka_errors_are_logged_and_the_loop_goes_on() -> None:
    """A broker outage used to end the store sink's thread (a commit raising after its timeout), and
    the API then served a store that no longer grew. Every Kafka error is now counted and survived."""
    stop, journal = threading.Event(), list[str]()
    pauses: list[int] = []
    consumer = FlakyBroker(stop, journal)
    loop = ConsumeLoop(
        consumer,
        lambda topic, value: journal.append(f"handle {value!r}"),
        error_pause=lambda: pauses.append(1),
    )
    stats = loop.run(stop)
    assert journal == [
        "handle b'1'",
        "commit failed",  # left to the next batch's commit
        "position failed",  # p0 not marked yet: tried again on the next step
        "mark p0@4",
        "poll failed",
        "handle b'2'",
        "commit",
    ]
    assert stats.kafka_errors == 3 and pauses == [1] and stats.messages == 2
