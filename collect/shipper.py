"""Ship application log lines to the logs topic as ``LogRecord`` events, keyed by service.

Why a shipper of our own rather than Filebeat/Vector: forewarn must run from one ``pip install`` on
a bare machine, and the dataflow wants one exact schema. Parsing lives in ``forewarn.collect.log_lines``,
following a file in ``forewarn.collect.follow``; this module only wires a line source to a ``Publisher``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from forewarn.collect.follow import FileFollower
from forewarn.collect.log_lines import EntryGrouper, parse_log_line
from forewarn.events import LogRecord, Name
from forewarn.kafka.publisher import Publisher

log = logging.getLogger(__name__)

_SERVICE_NAME: TypeAdapter[str] = TypeAdapter(Name)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ShipperCounts:
    lines: int = 0
    shipped: int = 0
    blank: int = 0


class LogShipper:
    """Parses lines and publishes each record to ``topic`` keyed by ``service``."""

    def __init__(
        self,
        publisher: Publisher,
        service: str,
        topic: str = "forewarn.logs",
        *,
        service_field: str | None = None,
        group_multiline: bool = True,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        try:
            self.service = _SERVICE_NAME.validate_python(service)
        except ValidationError as exc:
            raise ValueError(
                f"bad service name {service!r}: use 1-64 letters, digits, '.', '_' or '-'"
            ) from exc
        self.publisher = publisher
        self.topic = topic
        self.service_field = service_field
        self.grouper = EntryGrouper() if group_multiline else None
        self.now = now
        self.counts = ShipperCounts()

    def ship_line(self, line: str) -> list[LogRecord]:
        """Take one line; returns the records it completed (a multi-line entry waits for its end)."""
        self.counts.lines += 1
        entries = [line] if self.grouper is None else self.grouper.push(line)
        return self._ship(entries)

    def finish_entry(self) -> list[LogRecord]:
        """Ship the multi-line entry still held (the source went idle or ended)."""
        return self._ship(self.grouper.flush() if self.grouper is not None else [])

    def _ship(self, entries: list[str]) -> list[LogRecord]:
        shipped: list[LogRecord] = []
        for entry in entries:
            record = parse_log_line(entry, self.service, self.now(), self.service_field)
            if record is None:
                self.counts.blank += 1
                continue
            self.publisher.publish(self.topic, record.key(), record.to_json_bytes())
            self.counts.shipped += 1
            shipped.append(record)
        return shipped

    def ship_lines(self, lines: Iterable[str]) -> int:
        """Ship every line of a finite source (stdin, a file read once); returns records shipped."""
        before = self.counts.shipped
        for line in lines:
            self.ship_line(line)
        self.finish_entry()
        self.publisher.flush()
        return self.counts.shipped - before

    def follow(
        self,
        follower: FileFollower,
        *,
        sleep: Callable[[float], None],
        stop: Callable[[], bool],
        poll_interval: float = 0.5,
    ) -> int:
        """Ship lines appended to a file until ``stop()``; idle polls let the buffer drain."""
        before = self.counts.shipped

        def idle() -> None:
            self.finish_entry()  # a held traceback is complete once the writer pauses
            self.publisher.flush(timeout=1.0)

        for line in follower.follow(sleep, stop, poll_interval=poll_interval, on_idle=idle):
            self.ship_line(line)
        self.finish_entry()
        self.publisher.flush()
        return self.counts.shipped - before


__all__ = ["LogShipper", "ShipperCounts"]
