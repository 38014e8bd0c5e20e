"""Unit tests of log line parsing: JSON lines, plain text, garbage; every line yields a valid record."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime

import pytest

from forewarn.collect import details, log_lines, probe
from forewarn.collect.log_lines import EntryGrouper, parse_log_line, parse_timestamp
from forewarn.events import LogLevel, LogRecord
from forewarn.ingest import RawMessage, parse_message
from forewarn.settings import IngestSettings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)


def parse(line: str, **kwargs: str) -> LogRecord:
    record = parse_log_line(line, "musobuddy", NOW, **kwargs)
    assert record is not None
    # whatever came in, what goes out passes the dataflow's own validation
    assert parse_message(RawMessage(record.to_json_bytes()), IngestSettings(), now=NOW) == record
    return record


def test_json_line_fields_and_attributes() -> None:
    line = json.dumps(
        {
            "timestamp": "2026-11-25T17:20:01.250Z",
            "level": "error",
            "logger": "musobuddy.db",
            "message": "database connection failed: refused",
            "service": "database",
            "pool": {"in_use": 20, "size": 20},
            "attempt": 3,
        }
    )
    record = parse(line)
    assert record.timestamp == datetime(2026, 11, 25, 17, 20, 1, 250000, tzinfo=UTC)
    assert record.level is LogLevel.ERROR
    assert record.logger == "musobuddy.db"
    assert record.message == "database connection failed: refused"
    assert record.service == "musobuddy"
    assert record.attributes == {"service": "database", "pool": {"in_use": 20, "size": 20}, "attempt": 3}


def test_service_field_keys_the_record_when_asked_and_valid() -> None:
    line = json.dumps({"level": "INFO", "message": "m", "service": "database"})
    assert parse(line, service_field="service").service == "database"
    assert "service" not in parse(line, service_field="service").attributes
    bad = json.dumps({"level": "INFO", "message": "m", "service": "not a name!"})
    record = parse(bad, service_field="service")
    assert record.service == "musobuddy" and record.attributes["service"] == "not a name!"


@pytest.mark.parametrize(
    ("document", "level"),
    [
        ({"levelname": "WARNING", "msg": "x"}, LogLevel.WARNING),
        ({"severity": "fatal", "event": "x"}, LogLevel.CRITICAL),
        ({"level": 50, "msg": "x"}, LogLevel.ERROR),  # pino numeric levels
        ({"level": 30, "msg": "x"}, LogLevel.INFO),
        ({"level": "warn", "msg": "x"}, LogLevel.WARNING),
        ({"msg": "x"}, LogLevel.INFO),
    ],
)
def test_json_level_vocabularies(document: dict[str, object], level: LogLevel) -> None:
    assert parse(json.dumps(document)).level is level


def test_json_with_unusable_time_and_level_keeps_the_originals() -> None:
    record = parse('{"time": "yesterday", "level": "loud", "message": "m", "ts_extra": [1, {"a": 2}]}')
    assert record.timestamp == NOW
    assert record.level is LogLevel.INFO
    assert record.attributes["original_timestamp"] == "yesterday"
    assert record.attributes["original_level"] == "loud"
    assert record.attributes["ts_extra"] == '[1, {"a": 2}]'


def test_json_epoch_timestamps_in_any_unit() -> None:
    expected = datetime(2026, 11, 25, 17, 20, 1, tzinfo=UTC)
    seconds = expected.timestamp()
    for value in (seconds, seconds * 1e3, seconds * 1e6, seconds * 1e9, str(int(seconds))):
        assert parse(json.dumps({"ts": value, "msg": "m"})).timestamp == expected


def test_json_without_message_keeps_the_whole_line() -> None:
    line = '{"level": "error", "code": 17}'
    record = parse(line)
    assert record.message == line and record.level is LogLevel.ERROR


@pytest.mark.parametrize(
    ("line", "stamp", "level", "logger", "message"),
    [
        (
            "2026-11-25 17:20:01,123 ERROR [db.pool] pool exhausted",
            datetime(2026, 11, 25, 17, 20, 1, 123000, tzinfo=UTC),
            LogLevel.ERROR,
            "db.pool",
            "pool exhausted",
        ),
        (
            "2026-11-25 17:20:01,123 - musobuddy.auth - WARNING - slow login",
            datetime(2026, 11, 25, 17, 20, 1, 123000, tzinfo=UTC),
            LogLevel.WARNING,
            "musobuddy.auth",
            "slow login",
        ),
        (
            "2026-11-25T18:20:01+01:00 WARN uvicorn.error: boom",
            datetime(2026, 11, 25, 17, 20, 1, tzinfo=UTC),
            LogLevel.WARNING,
            "uvicorn.error",
            "boom",
        ),
        ('INFO:     127.0.0.1:5000 - "GET / HTTP/1.1" 200 OK', NOW, LogLevel.INFO, None, None),
        ("[2026-11-25 17:20:01.5] [CRITICAL] disk full", None, LogLevel.CRITICAL, None, "disk full"),
        ("Timeout: upstream did not answer", NOW, LogLevel.INFO, None, "Timeout: upstream did not answer"),
        ("ERROR: payment declined", NOW, LogLevel.ERROR, None, "payment declined"),
    ],
)
def test_plain_text_lines(
    line: str, stamp: datetime | None, level: LogLevel, logger: str | None, message: str | None
) -> None:
    record = parse(line)
    if stamp is not None:
        assert record.timestamp == stamp
    assert record.level is level
    assert record.logger == logger
    if message is not None:
        assert record.message == message


def test_plain_text_with_out_of_range_time_uses_now_and_keeps_it() -> None:
    record = parse("[1999-01-01 00:00:00] ERROR y2k")
    assert record.timestamp == NOW and record.level is LogLevel.ERROR
    assert record.attributes["original_timestamp"] == "1999-01-01 00:00:00"


@pytest.mark.parametrize(
    "line",
    [
        "{not json at all",
        "[1, 2, 3]",
        '"just a string"',
        "garbage \x00\x01 with control chars \udcff",
        '{"msg": "\\udcff lone surrogate", "k\\ud800": "\\ud800"}',
        "\t  Traceback (most recent call last):",
        "x" * 40_000,
        '{"a":' * 5000 + "1" + "}" * 5000,  # deeply nested JSON
    ],
)
def test_garbage_still_yields_a_record(line: str) -> None:
    record = parse(line)
    assert record.message
    assert len(record.message) <= 16_384


def test_long_lines_are_truncated_and_say_so() -> None:
    record = parse("INFO " + "y" * 20_000)
    assert len(record.message) == 16_384
    assert record.attributes["truncated"] is True
    assert record.attributes["original_length"] == 20_000


@pytest.mark.parametrize("line", ["", "   ", "\n", "\r\n"])
def test_blank_lines_are_skipped(line: str) -> None:
    assert parse_log_line(line, "musobuddy", NOW) is None


def test_parse_timestamp_rejects_nonsense() -> None:
    assert parse_timestamp(True) is None
    assert parse_timestamp(1e30) is None
    assert parse_timestamp("2026-13-45T99:99:99") is None
    assert parse_timestamp(-5) is None  # 1969: outside the accepted range


@pytest.mark.parametrize("module", [details, log_lines, probe])
def test_docstring_examples(module: object) -> None:
    failures, attempted = doctest.testmod(module)  # type: ignore[arg-type]
    assert attempted > 0 and failures == 0


TRACEBACK = [
    "2026-11-25 17:20:01,123 ERROR [musobuddy.payments] charge failed",
    "Traceback (most recent call last):",
    '  File "/app/payments.py", line 42, in charge',
    "    raise ProviderError(code)",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    '  File "/app/payments.py", line 50, in charge',
    "payments.ProviderError: 502 from stripe",
    "2026-11-25 17:20:02,000 INFO [musobuddy.http] GET /api/health 200",
]


def group(lines: list[str]) -> list[str]:
    grouper = EntryGrouper()
    entries: list[str] = []
    for line in lines:
        entries += grouper.push(line)
    return entries + grouper.flush()


def test_a_traceback_joins_the_record_it_belongs_to() -> None:
    entries = group(TRACEBACK)
    assert len(entries) == 2
    assert entries[0] == "\n".join(TRACEBACK[:-1])
    record = parse(entries[0])
    assert record.level is LogLevel.ERROR and record.logger == "musobuddy.payments"
    assert record.message.startswith("charge failed\nTraceback")
    assert record.message.endswith("payments.ProviderError: 502 from stripe")
    assert parse(entries[1]).level is LogLevel.INFO


def test_a_bare_traceback_is_an_error_and_ends_at_its_exception_line() -> None:
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1', "KeyError: 'user'", "next thing"]
    entries = group(lines)
    assert entries == ["\n".join(lines[:3]), "next thing"]
    assert parse(entries[0]).level is LogLevel.ERROR


def test_json_lines_and_ordinary_lines_are_never_joined() -> None:
    lines = ['{"message": "a"}', "  indented but after JSON", "plain", "ValueError: not in a traceback", ""]
    assert group(lines) == [
        '{"message": "a"}',
        "  indented but after JSON",
        "plain",
        "ValueError: not in a traceback",
        "",
    ]


def test_java_stack_traces_join() -> None:
    lines = [
        "2026-11-25 17:20:01 ERROR boom",
        "java.lang.IllegalStateException: pool closed",
        "\tat com.example.Pool.get(Pool.java:10)",
        "Caused by: java.io.IOException: reset",
        "\t... 3 more",
    ]
    entries = group(lines)
    assert entries[0] == lines[0]  # the exception line is not indented: Java's header stays apart
    assert entries[1] == "\n".join(lines[1:])


def test_entries_are_bounded() -> None:
    grouper = EntryGrouper(max_lines=3)
    out: list[str] = []
    for line in ["head", "  a", "  b", "  c", "  d"]:
        out += grouper.push(line)
    out += grouper.flush()
    assert out == ["head\n  a\n  b", "  c\n  d"]
