"""Logging for every forewarn process: one format, and repeated lines rate-limited.

Why a rate limit: while the broker was down for 30 s the Kafka clients logged about 160 lines a
second (every consumer and producer retrying its connection, each line much like the last), which
buries whatever else the process says and fills disks. :class:`RepeatFilter` lets the first
``burst`` lines of a repeated message through per ``window`` seconds, drops the rest, and then
writes one summary line "... repeated K times". Two lines count as the same message when logger,
level and text match once digits are masked, so "after 3ms" and "after 5ms", or consumer 1 and 7,
are one message.

Why on the handlers, one filter each: a filter on a logger does not see records that propagate
from its children, while the root's handlers see every line the process writes; a filter shared by
two handlers would count each line twice and write its summaries to both.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["LOG_FORMAT", "RepeatFilter", "setup_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DIGITS = re.compile(r"\d+")
_SUMMARY = "forewarn_repeat_summary"  # set on the summary records, which the filter lets through


@dataclass
class _Window:
    first: logging.LogRecord
    start: float
    seen: int = 0
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """Per message: the first ``burst`` lines in ``window`` seconds pass, then one summary line.

    The summary is written through the one handler the filter is attached to (:meth:`attach`), at
    the first log line after the window ends, or by :meth:`flush` (at exit, via :func:`setup_logging`).
    """

    def __init__(
        self,
        burst: int = 5,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_messages: int = 1024,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        self._max_messages = max_messages
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self.handler: logging.Handler | None = None
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def attach(self, handler: logging.Handler) -> None:
        if self.handler is not None and self.handler is not handler:
            raise ValueError("a RepeatFilter filters one handler (it writes its summaries there)")
        if self not in handler.filters:
            handler.addFilter(self)
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY, False):
            return True
        now = self._clock()
        key = (record.name, record.levelno, _DIGITS.sub("#", record.getMessage()))
        with self._lock:
            due = self._expired(now, key)
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(first=record, start=now)
            window.seen += 1
            passed = window.seen <= self.burst
            if not passed:
                window.suppressed += 1
        self._write(due)
        return passed

    def flush(self) -> None:
        """Write the summaries of every message still being held back."""
        with self._lock:
            due = [self._summary(w, self._clock()) for w in self._windows.values() if w.suppressed]
            self._windows.clear()
        self._write(due)

    def _expired(self, now: float, key: tuple[str, int, str]) -> list[logging.LogRecord]:
        """Close the windows that ended (this key's always; all of them at most once a second)."""
        sweep = now >= self._next_sweep or len(self._windows) >= self._max_messages
        keys = list(self._windows) if sweep else [key] if key in self._windows else []
        if sweep:
            self._next_sweep = now + 1.0
        due = []
        for candidate in keys:
            window = self._windows[candidate]
            if now - window.start >= self.window or len(self._windows) >= self._max_messages:
                del self._windows[candidate]
                if window.suppressed:
                    due.append(self._summary(window, now))
        return due

    def _summary(self, window: _Window, now: float) -> logging.LogRecord:
        first = window.first
        summary = logging.makeLogRecord(first.__dict__)
        summary.msg = "%s ... repeated %d times in %.0f s (not shown)"
        summary.args = (first.getMessage(), window.suppressed, max(now - window.start, 0.0))
        summary.exc_info = summary.exc_text = summary.stack_info = None
        summary.created = time.time()
        setattr(summary, _SUMMARY, True)
        return summary

    def _write(self, summaries: list[logging.LogRecord]) -> None:
        if self.handler is not None:
            for summary in summaries:
                self.handler.handle(summary)


QUIET_BELOW_DEBUG = ("kafka",)


def setup_logging(level: str, *, stream: TextIO | None = None) -> list[RepeatFilter]:
    """The process's logging: ``LOG_FORMAT`` at ``level``, every root handler rate-limited.

    Call at a command's start instead of ``logging.basicConfig``; calling it again is harmless (a
    handler that has a repeat filter keeps it). Returns the root handlers' filters.
    """
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=stream)
    # kafka-python logs every connect/close/metadata refresh at INFO (over 100 lines a minute per
    # process): that is debugging detail, so it shows at DEBUG only; its warnings always show.
    for chatty in QUIET_BELOW_DEBUG:
        logging.getLogger(chatty).setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING)
    filters = []
    for handler in logging.getLogger().handlers:
        repeats = next((f for f in handler.filters if isinstance(f, RepeatFilter)), None)
        if repeats is None:
            repeats = RepeatFilter()
            repeats.attach(handler)
        filters.append(repeats)
    return filters


@atexit.register
def _flush_at_exit() -> None:
    """Say what is still held back, on the handlers still in use (not on ones closed since)."""
    for handler in logging.getLogger().handlers:
        for repeats in [f for f in handler.filters if isinstance(f, RepeatFilter)]:
            repeats.flush()
