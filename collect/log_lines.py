"""Turn one application log line into a ``LogRecord``, whatever the line looks like.

Why so forgiving: the log shipper sits in front of code we do not own. A line that cannot be parsed
is still evidence (a stack trace, a panic message), so it is shipped with its raw text at level INFO
rather than dropped. Three shapes are understood:

- JSON lines (structlog, python-json-logger, pino, ...): ``timestamp``/``time``/``ts``/``@timestamp``,
  ``level``/``levelname``/``severity``, ``message``/``msg``/``event``, ``logger``/``name``; every other
  field becomes an attribute.
- Plain text with an optional leading ISO 8601 timestamp and an optional level, e.g.
  ``2026-11-25 17:20:01,123 ERROR [db.pool] pool exhausted`` or uvicorn's ``INFO:     GET /``.
- Anything else: the raw line, level INFO, stamped with the shipper's clock.

A timestamp that is missing, unreadable or outside the accepted range is replaced by the shipper's
clock, and the original text is kept in ``attributes["original_timestamp"]``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from forewarn.collect.details import clean_text, coerce_details
from forewarn.events import Details, LogLevel, LogRecord

MAX_MESSAGE = 16_384

_TIME_KEYS = ("timestamp", "@timestamp", "time", "ts", "asctime", "datetime", "date")
_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "lvl", "loglevel")
_MESSAGE_KEYS = ("message", "msg", "event", "text", "log")
_LOGGER_KEYS = ("logger", "logger_name", "name", "log.logger", "component")

_LEVEL_WORDS: dict[str, LogLevel] = {
    "TRACE": LogLevel.DEBUG,
    "DEBUG": LogLevel.DEBUG,
    "INFO": LogLevel.INFO,
    "NOTICE": LogLevel.INFO,
    "WARN": LogLevel.WARNING,
    "WARNING": LogLevel.WARNING,
    "ERROR": LogLevel.ERROR,
    "ERR": LogLevel.ERROR,
    "CRITICAL": LogLevel.CRITICAL,
    "FATAL": LogLevel.CRITICAL,
    "PANIC": LogLevel.CRITICAL,
}
# pino and bunyan write numeric levels.
_NUMERIC_LEVELS = [(60, LogLevel.CRITICAL), (50, LogLevel.ERROR), (40, LogLevel.WARNING), (30, LogLevel.INFO)]

_LEADING_TIME = re.compile(
    r"^\s*\[?(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)\]?"
    r"(?:\s*[|\-:]\s*|\s+|$)"
)
_SERVICE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_LEVEL_NAMES = "|".join(sorted(_LEVEL_WORDS, key=len, reverse=True))
_LEADING_LEVEL = re.compile(rf"^\[?(?P<level>{_LEVEL_NAMES})\]?(?::|\s*[|\-]\s|\s|$)\s*", re.IGNORECASE)
# Python's "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
_NAME_THEN_LEVEL = re.compile(
    rf"^(?P<logger>[\w.\-]{{1,128}})\s+-\s+(?P<level>{_LEVEL_NAMES})\s+-\s+", re.IGNORECASE
)
# "[db.pool] message" or "db.pool: message" (dotted names only: "Timeout: ..." is not a logger)
_LEADING_LOGGER = re.compile(r"^(?:\[(?P<bracketed>[\w.\-]{1,128})\]|(?P<dotted>\w+(?:\.\w+)+):)\s+")


def parse_timestamp(value: Any) -> datetime | None:
    """Epoch seconds (or ms/us/ns, told apart by size) or ISO 8601; None when unusable.

    >>> parse_timestamp(1700000000.5).isoformat()
    '2023-11-14T22:13:20.500000+00:00'
    >>> parse_timestamp("2026-11-25 17:20:01,250").isoformat()
    '2026-11-25T17:20:01.250000+00:00'
    >>> parse_timestamp("yesterday") is None
    True
    """
    stamp: datetime | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_timestamp(float(text)) if text and text.replace(".", "", 1).isdigit() else _iso(text)
        except ValueError:
            return None
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds > 1e17:  # nanoseconds
            seconds /= 1e9
        elif seconds > 1e14:  # microseconds
            seconds /= 1e6
        elif seconds > 1e11:  # milliseconds
            seconds /= 1e3
        try:
            stamp = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return stamp if stamp is not None and _in_range(stamp) else None


def _iso(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    return stamp if _in_range(stamp) else None


def _in_range(stamp: datetime) -> bool:
    return datetime(2000, 1, 1, tzinfo=UTC) <= stamp < datetime(2100, 1, 1, tzinfo=UTC)


def _level(value: Any) -> LogLevel | None:
    if isinstance(value, str):
        return _LEVEL_WORDS.get(value.strip().upper())
    if isinstance(value, int | float) and not isinstance(value, bool):
        for floor, level in _NUMERIC_LEVELS:
            if value >= floor:
                return level
        return LogLevel.DEBUG
    return None


def parse_log_line(
    line: str, service: str, now: datetime, service_field: str | None = None
) -> LogRecord | None:
    """Parse one line; ``None`` for a blank line. Never raises for any content of ``line``.

    ``service`` keys the record. With ``service_field``, a JSON line whose field of that name holds
    a valid service name is keyed by it instead (an app that logs for several subsystems), so its
    logs line up with the probes of the same subsystem.
    """
    text = clean_text(line.rstrip("\r\n"))
    if not text.strip():
        return None
    try:
        if text.lstrip().startswith("{"):
            record = _from_json(text, service, now, service_field)
            if record is not None:
                return record
        return _from_text(text, service, now)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return _raw(text, service, now)


def _from_json(text: str, service: str, now: datetime, service_field: str | None) -> LogRecord | None:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    fields = dict(document)
    attributes: dict[str, Any] = {}
    if service_field is not None:
        own = fields.get(service_field)
        if isinstance(own, str) and _SERVICE_NAME.fullmatch(own):
            service = own
            del fields[service_field]

    raw_time = _pop_first(fields, _TIME_KEYS)
    stamp = parse_timestamp(raw_time) if raw_time is not None else None
    if stamp is None and raw_time is not None:
        attributes["original_timestamp"] = str(raw_time)[:128]

    raw_level = _pop_first(fields, _LEVEL_KEYS)
    level = _level(raw_level)
    if level is None and raw_level is not None:
        attributes["original_level"] = str(raw_level)[:64]

    raw_message = _pop_first(fields, _MESSAGE_KEYS)
    if isinstance(raw_message, str) and raw_message.strip():
        message = clean_text(raw_message)
    elif raw_message is not None and not isinstance(raw_message, str):
        message = json.dumps(raw_message, default=str)
    else:
        message = text

    raw_logger = _pop_first(fields, _LOGGER_KEYS)
    logger = clean_text(str(raw_logger), 256) if raw_logger is not None else None
    attributes.update(fields)
    return _record(service, stamp or now, level or LogLevel.INFO, message, logger, coerce_details(attributes))


def _pop_first(fields: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in fields:
            return fields.pop(key)
    return None


def _from_text(text: str, service: str, now: datetime) -> LogRecord:
    attributes: Details = {}
    rest = text
    stamp: datetime | None = None
    match = _LEADING_TIME.match(rest)
    if match:
        stamp = parse_timestamp(match.group("ts"))
        if stamp is None:
            attributes["original_timestamp"] = match.group("ts")
        rest = rest[match.end() :]
    level: LogLevel | None = None
    logger: str | None = None
    named = _NAME_THEN_LEVEL.match(rest)
    if named:
        logger, level = named.group("logger"), _level(named.group("level"))
        rest = rest[named.end() :]
    else:
        leveled = _LEADING_LEVEL.match(rest)
        if leveled:
            level = _level(leveled.group("level"))
            rest = rest[leveled.end() :]
        if level is not None or match:
            named_logger = _LEADING_LOGGER.match(rest)
            if named_logger:
                logger = named_logger.group("bracketed") or named_logger.group("dotted")
                rest = rest[named_logger.end() :]
    message = rest.strip() or text.strip()
    if level is None and _TRACEBACK in text:
        level = LogLevel.ERROR  # an uncaught exception's traceback, printed without a log prefix
    return _record(service, stamp or now, level or LogLevel.INFO, message, logger, attributes)


def _record(
    service: str, stamp: datetime, level: LogLevel, message: str, logger: str | None, attributes: Details
) -> LogRecord:
    if len(message) > MAX_MESSAGE:
        attributes = {**attributes, "truncated": True, "original_length": len(message)}
        message = message[:MAX_MESSAGE]
    return LogRecord(
        service=service, timestamp=stamp, level=level, message=message, logger=logger, attributes=attributes
    )


def _raw(text: str, service: str, now: datetime) -> LogRecord:
    return _record(service, now, LogLevel.INFO, text, None, {"unparsed": True})


_TRACEBACK = "Traceback (most recent call last):"
_CONTINUATION_STARTS = (
    _TRACEBACK,
    "During handling of the above exception",
    "The above exception was the direct cause",
    "Caused by: ",  # Java
)
# The last line of a Python traceback, e.g. "ValueError: bad" or "KeyboardInterrupt".
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault)\b(?::|$)")


class EntryGrouper:
    """Joins the lines of one multi-line entry (a traceback, an indented dump) into one text.

    Why: a Python traceback is a dozen lines, and shipped one by one its last line ("ValueError:
    ...") would arrive as a lone INFO record, losing the error. Lines that continue an entry are
    indented lines, traceback headers (``Traceback ...``, ``During handling ...``, Java's
    ``Caused by:``) and, inside a traceback, blank lines and the final exception line. A JSON line
    is always an entry of its own. ``push`` returns the entries that are complete; ``flush`` hands
    over the one still held (call it when the source goes idle or ends).
    """

    def __init__(self, max_lines: int = 500) -> None:
        self.max_lines = max_lines
        self._held: list[str] = []

    def push(self, line: str) -> list[str]:
        text = line.rstrip("\r\n")
        if self._held and len(self._held) < self.max_lines and self._continues(text):
            self._held.append(text)
            return []
        done = self.flush()
        self._held = [text]
        return done

    def flush(self) -> list[str]:
        held, self._held = self._held, []
        if not held:
            return []
        entry = "\n".join(held).rstrip()
        return [entry] if entry or len(held) == 1 else []

    def _continues(self, text: str) -> bool:
        first = self._held[0]
        if not first.strip() or first.lstrip().startswith("{") or text.lstrip().startswith("{"):
            return False
        if text.startswith(_CONTINUATION_STARTS):
            return True
        if text[:1] in (" ", "\t") and text.strip():
            return True
        in_traceback = any(held.startswith(_TRACEBACK) for held in self._held)
        return in_traceback and (not text.strip() or bool(_EXCEPTION_LINE.match(text)))


__all__ = ["EntryGrouper", "parse_log_line", "parse_timestamp"]
