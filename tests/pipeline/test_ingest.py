"""forewarn.ingest.parse_message: every kind of bad input becomes a DeadLetter with a reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from forewarn.events import DeadLetter, LogLevel, LogRecord, MetricSample, ProbeResult
from forewarn.ingest import RawMessage, parse_message, reason_class
from forewarn.settings import IngestSettings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = IngestSettings()


def probe(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "kind": "probe",
        "service": "auth",
        "endpoint": "http://127.0.0.1:8080/api/health/auth",
        "timestamp": NOW.isoformat(),
        "latency_ms": 12.5,
        "status_code": 200,
        "ok": True,
    }
    doc.update(overrides)
    return doc


def parse(value: bytes | None, **where: Any) -> ProbeResult | LogRecord | MetricSample | DeadLetter:
    return parse_message(RawMessage(value=value, **where), LIMITS, NOW)


def rejected(value: bytes | None, **where: Any) -> DeadLetter:
    result = parse(value, **where)
    assert isinstance(result, DeadLetter), f"expected a dead letter, got {result!r}"
    assert base64.b64decode(result.original_b64) == (value or b"")
    assert result.original_size == len(value or b"")
    assert result.received_at == NOW
    return result


def test_valid_probe_metric_and_log_parse() -> None:
    event = parse(json.dumps(probe()).encode())
    assert isinstance(event, ProbeResult)
    assert event.latency_ms == 12.5 and event.timestamp == NOW
    metric = parse(
        json.dumps(
            {
                "kind": "metric",
                "service": "database",
                "name": "db_pool_in_use",
                "value": 7,
                "timestamp": 1772366400,
            }
        ).encode()
    )
    assert isinstance(metric, MetricSample) and metric.value == 7.0
    log = parse(
        json.dumps(
            {
                "kind": "log",
                "service": "auth",
                "message": "boom",
                "level": "warn",
                "timestamp": NOW.isoformat(),
            }
        ).encode()
    )
    assert isinstance(log, LogRecord) and log.level == LogLevel.WARNING


def test_unknown_extra_fields_are_ignored() -> None:
    assert isinstance(parse(json.dumps(probe(region="eu", extra={"a": 1})).encode()), ProbeResult)


def test_dead_letter_keeps_where_it_came_from() -> None:
    letter = rejected(b"{not json", topic="forewarn.probes", key=b"auth", partition=2, offset=41)
    assert letter.source_topic == "forewarn.probes"
    assert letter.partition == 2 and letter.offset == 41
    assert base64.b64decode(letter.key_b64 or "") == b"auth"


def test_dead_letter_id_is_its_position_when_known() -> None:
    """A replayed message (same topic, partition, offset) gets the same id, whenever it is re-read."""
    first = rejected(b"{not json", topic="forewarn.probes", partition=2, offset=41)
    again = parse_message(
        RawMessage(value=b"{not json", topic="forewarn.probes", partition=2, offset=41),
        LIMITS,
        NOW + timedelta(minutes=5),
    )
    assert isinstance(again, DeadLetter) and again.received_at != first.received_at
    assert again.id == first.id and len(first.id) == 24
    # the same bytes at another offset are another message, and so another dead letter
    assert rejected(b"{not json", topic="forewarn.probes", partition=2, offset=42).id != first.id
    assert rejected(b"{not json", topic="forewarn.logs", partition=2, offset=41).id != first.id


def test_dead_letter_id_without_a_position_comes_from_bytes_and_reason() -> None:
    letter = rejected(b"{not json")
    assert letter.id == rejected(b"{not json").id
    assert letter.id != rejected(b"{not json!").id  # other bytes
    moved = letter.model_copy(update={"reason": "another reason"})
    assert DeadLetter.make_id(moved.model_dump()) != letter.id  # another reason


def test_dead_letter_id_survives_the_topic_and_older_letters_get_one() -> None:
    letter = rejected(b"{not json", topic="forewarn.probes", partition=0, offset=7)
    assert DeadLetter.model_validate_json(letter.to_json_bytes()).id == letter.id
    older = json.loads(letter.to_json_bytes())
    del older["id"]  # a letter written before ids existed
    assert DeadLetter.model_validate(older).id == letter.id


@pytest.mark.parametrize(
    ("value", "reason_start", "klass"),
    [
        (b"", "empty message", "empty"),
        (None, "empty message", "empty"),
        (b"{not json", "bad JSON", "bad_json"),
        (b"[" * 60_000, "bad JSON: nested too deeply", "bad_json"),
        (b"\xef\xbb\xbf" + json.dumps(probe()).encode(), "bad JSON", "bad_json"),
        (b"\xff\xfe\x00garbage", "not UTF-8", "not_utf8"),
        (json.dumps(probe()).encode("utf-16"), "not UTF-8", "not_utf8"),
        (b"[1, 2, 3]", "expected a JSON object, got list", "not_object"),
        (b'"probe"', "expected a JSON object, got str", "not_object"),
        (b"null", "expected a JSON object, got NoneType", "not_object"),
        (json.dumps(probe(schema_version=2)).encode(), "unsupported schema_version 2", "schema_version"),
        (
            json.dumps(probe(schema_version=True)).encode(),
            "unsupported schema_version True",
            "schema_version",
        ),
        (json.dumps(probe(kind="trace")).encode(), "unknown kind 'trace'", "unknown_kind"),
        (json.dumps(probe(kind=None)).encode(), "unknown kind None", "unknown_kind"),
        (
            json.dumps({k: v for k, v in probe().items() if k != "kind"}).encode(),
            "unknown kind None",
            "unknown_kind",
        ),
    ],
)
def test_malformed_payloads(value: bytes | None, reason_start: str, klass: str) -> None:
    letter = rejected(value)
    assert letter.reason.startswith(reason_start), letter.reason
    assert reason_class(letter.reason) == klass


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (probe(latency_ms="fast"), "latency_ms"),
        (probe(latency_ms=-1), "latency_ms"),
        (probe(latency_ms=float("nan")), "latency_ms"),
        (probe(ok="maybe"), "ok"),
        (probe(status_code=99), "status_code"),
        (probe(status_code=10**40), "status_code"),
        (probe(service=["auth"]), "service"),
        (probe(service="a" * 65), "service"),
        (probe(service="auth; DROP TABLE"), "service"),
        (probe(service=""), "service"),
        (probe(endpoint=""), "endpoint"),
        (probe(error="\ud800 lone surrogate"), "error"),
        (probe(details={"a": {"b": {"c": 1}}}), "details"),
        ({k: v for k, v in probe().items() if k != "ok"}, "ok"),
        ({k: v for k, v in probe().items() if k != "service"}, "service"),
        ({k: v for k, v in probe().items() if k != "timestamp"}, "timestamp"),
    ],
)
def test_wrong_types_and_missing_fields_name_the_field(doc: dict[str, Any], field: str) -> None:
    letter = rejected(json.dumps(doc).encode())
    assert letter.reason.startswith("invalid probe:"), letter.reason
    assert field in letter.reason
    assert reason_class(letter.reason) == "invalid_fields"


def test_huge_number_literal_is_rejected_not_crashing() -> None:
    raw = json.dumps(probe()).encode().replace(b'"latency_ms": 12.5', b'"latency_ms": ' + b"9" * 500)
    assert "latency_ms" in rejected(raw).reason


@pytest.mark.parametrize(
    "timestamp",
    [
        "9999-12-31T00:00:00",
        "0001-01-01T00:00:00",
        1e20,
        -1e300,
        "yesterday",
        "",
    ],
)
def test_absurd_timestamps_are_rejected(timestamp: Any) -> None:
    letter = rejected(json.dumps(probe(timestamp=timestamp)).encode())
    assert "timestamp" in letter.reason


def test_timestamps_outside_the_ingest_window_are_rejected() -> None:
    future = rejected(json.dumps(probe(timestamp=(NOW + timedelta(hours=1)).isoformat())).encode())
    assert "in the future" in future.reason
    assert reason_class(future.reason) == "timestamp_out_of_window"
    old = rejected(json.dumps(probe(timestamp=(NOW - timedelta(days=31)).isoformat())).encode())
    assert "older than" in old.reason
    # inside the window, zone-less timestamps are UTC and epoch seconds work
    near = parse(
        json.dumps(probe(timestamp=(NOW - timedelta(minutes=5)).replace(tzinfo=None).isoformat())).encode()
    )
    assert isinstance(near, ProbeResult) and near.timestamp == NOW - timedelta(minutes=5)
    epoch = parse(json.dumps(probe(timestamp=NOW.timestamp())).encode())
    assert isinstance(epoch, ProbeResult) and epoch.timestamp == NOW


def test_payload_over_the_limit_is_rejected_before_decoding() -> None:
    big = json.dumps(probe(error="x" * 2000, details={"pad": "y" * 70_000})).encode()
    letter = rejected(big)
    assert letter.reason == f"payload too large: {len(big)} bytes > {LIMITS.max_payload_bytes}"
    assert reason_class(letter.reason) == "too_large"


def test_reason_is_bounded_and_every_dead_letter_serialises() -> None:
    doc = {
        "kind": "probe",
        "service": "x" * 100,
        "endpoint": "",
        "latency_ms": "?",
        "ok": "?",
        "timestamp": "?",
        "status_code": "?",
        "attempts": "?",
    }
    letter = rejected(json.dumps(doc).encode())
    assert len(letter.reason) <= 1000
    assert json.loads(letter.to_json_bytes())["kind"] == "dead_letter"


def test_reason_class_of_unknown_text_is_other() -> None:
    assert reason_class("something new") == "other"
