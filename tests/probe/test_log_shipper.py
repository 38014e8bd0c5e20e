"""LogShipper wiring: lines in, records out on the logs topic keyed by service, entries grouped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from forewarn.collect.follow import FileFollower
from forewarn.collect.shipper import LogShipper
from forewarn.events import LogLevel, LogRecord
from tests.probe.fakes import ListPublisher

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)


class LogPublisher(ListPublisher):
    def records(self) -> list[LogRecord]:
        return [LogRecord.model_validate_json(value) for _, _, value in self.messages]


def test_lines_become_records_on_the_logs_topic_keyed_by_service() -> None:
    publisher = LogPublisher()
    shipper = LogShipper(publisher, "musobuddy", "t.logs", now=lambda: NOW)
    shipped = shipper.ship_lines(["ERROR: db down\n", "\n", "Traceback (most recent call last):\n", "  x\n"])
    assert shipped == 2
    assert {(topic, key) for topic, key, _ in publisher.messages} == {("t.logs", "musobuddy")}
    first, second = publisher.records()
    assert (first.level, first.message) == (LogLevel.ERROR, "db down")
    assert second.level is LogLevel.ERROR and second.message == "Traceback (most recent call last):\n  x"
    assert (shipper.counts.lines, shipper.counts.shipped, shipper.counts.blank) == (4, 2, 1)
    assert publisher.flushes == 1


def test_multiline_grouping_can_be_turned_off() -> None:
    publisher = LogPublisher()
    shipper = LogShipper(publisher, "musobuddy", group_multiline=False, now=lambda: NOW)
    assert shipper.ship_lines(["Traceback (most recent call last):", "  x", "ValueError: y"]) == 3


def test_following_ships_a_held_traceback_when_the_file_goes_idle(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    publisher = LogPublisher()
    shipper = LogShipper(publisher, "musobuddy", now=lambda: NOW)
    follower = FileFollower(log)
    polls = 0

    def sleep(_: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 1:
            log.write_text("Traceback (most recent call last):\n  File 'x'\nOSError: disk full\n")

    shipped = shipper.follow(follower, sleep=sleep, stop=lambda: polls >= 2, poll_interval=0.01)
    follower.close()
    assert shipped == 1
    assert publisher.records()[0].message.endswith("OSError: disk full")


def test_bad_service_name_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="bad service name"):
        LogShipper(LogPublisher(), "two words")
