"""The repeat filter every forewarn process logs through: first lines pass, repeats become one summary."""

from __future__ import annotations

import logging

import pytest

from forewarn.log_setup import LOG_FORMAT, RepeatFilter, setup_logging

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


@pytest.fixture
def setup() -> tuple[logging.Logger, Collect, Clock, RepeatFilter]:
    clock = Clock()
    handler = Collect()
    repeats = RepeatFilter(burst=3, window=10.0, clock=clock)
    repeats.attach(handler)
    logger = logging.getLogger(f"test.repeat.{id(handler)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, handler, clock, repeats


def test_first_lines_pass_then_one_summary_with_the_count(
    setup: tuple[logging.Logger, Collect, Clock, RepeatFilter],
) -> None:
    logger, handler, clock, _ = setup
    for i in range(100):  # a flood: digits differ, the message is the same
        logger.error("connect to 127.0.0.1:%d failed (after %dms)", 9092, i)
        clock.now += 0.05
    assert handler.lines == [
        "ERROR connect to 127.0.0.1:9092 failed (after 0ms)",
        "ERROR connect to 127.0.0.1:9092 failed (after 1ms)",
        "ERROR connect to 127.0.0.1:9092 failed (after 2ms)",
    ]
    clock.now += 10.0  # the window is over: the next line brings the summary, then passes itself
    logger.error("connect to 127.0.0.1:9092 failed (after 7ms)")
    assert handler.lines[3:] == [
        "ERROR connect to 127.0.0.1:9092 failed (after 0ms) ... repeated 97 times in 15 s (not shown)",
        "ERROR connect to 127.0.0.1:9092 failed (after 7ms)",
    ]


def test_other_messages_and_levels_are_counted_apart(
    setup: tuple[logging.Logger, Collect, Clock, RepeatFilter],
) -> None:
    logger, handler, _, _ = setup
    for _ in range(5):
        logger.error("broker down")
        logger.warning("broker down")
        logger.error("disk full")
    assert len(handler.lines) == 9  # three of each of the three


def test_a_flood_that_stops_is_summed_up_by_the_next_line_or_at_exit(
    setup: tuple[logging.Logger, Collect, Clock, RepeatFilter],
) -> None:
    logger, handler, clock, repeats = setup
    for _ in range(10):
        logger.error("broker down")
    clock.now += 11.0
    logger.info("something else")  # another message, after the window: the summary comes first
    assert handler.lines[-2:] == [
        "ERROR broker down ... repeated 7 times in 11 s (not shown)",
        "INFO something else",
    ]
    for _ in range(4):
        logger.error("disk full")
    repeats.flush()
    assert handler.lines[-1] == "ERROR disk full ... repeated 1 times in 0 s (not shown)"
    repeats.flush()  # nothing held back any more
    assert handler.lines[-1] == "ERROR disk full ... repeated 1 times in 0 s (not shown)"


def test_setup_logging_puts_one_filter_on_every_root_handler() -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        first = setup_logging("info")
        again = setup_logging("INFO")
        assert len(first) == len(root.handlers) >= 1 and again == first
        for handler, repeats in zip(root.handlers, first, strict=True):
            assert handler.filters == [repeats] and repeats.handler is handler
        assert root.handlers[0].formatter is not None and root.handlers[0].formatter._fmt == LOG_FORMAT
        with pytest.raises(ValueError, match="one handler"):
            first[0].attach(Collect())
    finally:
        root.handlers = saved
