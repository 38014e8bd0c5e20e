"""Turn raw Kafka bytes into a validated event, or a dead letter that says why.

Why a plain function: the dataflow must never stop for bad input, and this is the one place that
decides what "bad" means. It is tested without Bytewax or Kafka; the dataflow only routes its result.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Annotated, NamedTuple

from pydantic import Field, TypeAdapter, ValidationError

from forewarn.events import DeadLetter, LogRecord, MetricSample, ProbeResult, TelemetryEvent
from forewarn.settings import IngestSettings

_ADAPTERS: dict[str, TypeAdapter[TelemetryEvent]] = {
    "probe": TypeAdapter(ProbeResult),
    "log": TypeAdapter(LogRecord),
    "metric": TypeAdapter(MetricSample),
}

# The hot path: pydantic parses and validates the bytes in one pass (no json.loads, no dict), picking
# the model by "kind". It only ever *accepts*; anything it rejects takes the step-by-step path below,
# which writes the reason, so a dead letter says exactly what it said before.
_FAST: TypeAdapter[TelemetryEvent] = TypeAdapter(
    Annotated[ProbeResult | LogRecord | MetricSample, Field(discriminator="kind")]
)
_VERSION_ONE = re.compile(rb'"schema_version"[ \t\r\n]*:[ \t\r\n]*1(?![0-9.eE])')


def _fast_path_agrees(value: bytes) -> bool:
    """Whether the one-pass parse may be trusted to match the step-by-step one on ``value``.

    The only input it accepts that the slow path refuses is ``"schema_version": true`` (a bool
    passes ``Literal[1]``); so every schema_version must be a plain ``1``, and no escape (``\\u``)
    may spell a key the byte search cannot see.
    """
    if b"\\u" in value:
        return False
    keys = value.count(b'"schema_version"')  # a plain count: most messages carry none, or one
    return keys == 0 or keys == len(_VERSION_ONE.findall(value))


class RawMessage(NamedTuple):
    """What a source hands over: bytes plus where they came from (for the dead letter).

    A named tuple: the Kafka source builds one per message, in half the time of a frozen dataclass.
    """

    value: bytes | None
    topic: str | None = None
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None


def parse_message(
    message: RawMessage, limits: IngestSettings, now: datetime | None = None
) -> TelemetryEvent | DeadLetter:
    """Validate one message; never raises for bad input."""
    received = now or datetime.now(UTC)
    reason = _check(message, limits)
    if reason is None:
        try:
            event = _decode(message.value or b"")
        except _Reject as rejected:
            reason = str(rejected)
        else:
            reason = _check_time(event, limits, received)
            if reason is None:
                return event
    return dead_letter(message, reason, received)


def dead_letter(message: RawMessage, reason: str, received: datetime) -> DeadLetter:
    value = message.value or b""
    return DeadLetter(
        reason=reason[:1000],
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key_b64=base64.b64encode(message.key).decode() if message.key is not None else None,
        original_b64=base64.b64encode(value).decode(),
        original_size=len(value),
        received_at=received,
    )


# Reason prefixes written by this module, mapped to a low-cardinality class for metrics labels.
_REASON_CLASSES: tuple[tuple[str, str], ...] = (
    ("empty message", "empty"),
    ("payload too large", "too_large"),
    ("not UTF-8", "not_utf8"),
    ("bad JSON", "bad_json"),
    ("expected a JSON object", "not_object"),
    ("unsupported schema_version", "schema_version"),
    ("unknown kind", "unknown_kind"),
    ("invalid ", "invalid_fields"),
    ("timestamp ", "timestamp_out_of_window"),
)


def reason_class(reason: str) -> str:
    """A short class for a dead-letter reason (``bad_json``, ``invalid_fields``, ...).

    Why: the full reason names fields and values, which would explode a Prometheus label's
    cardinality; the class is what a dashboard groups by, the full reason stays in the dead letter.
    """
    for prefix, name in _REASON_CLASSES:
        if reason.startswith(prefix):
            return name
    return "other"


class _Reject(Exception):
    pass


def _check(message: RawMessage, limits: IngestSettings) -> str | None:
    if message.value is None or len(message.value) == 0:
        return "empty message"
    if len(message.value) > limits.max_payload_bytes:
        return f"payload too large: {len(message.value)} bytes > {limits.max_payload_bytes}"
    return None


def _decode(value: bytes) -> TelemetryEvent:
    if _fast_path_agrees(value):
        try:
            return _FAST.validate_json(value)
        except ValidationError:
            pass  # the step-by-step parse below finds and words the reason
    return _decode_steps(value)


def _decode_steps(value: bytes) -> TelemetryEvent:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Reject(f"not UTF-8: {exc.reason} at byte {exc.start}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Reject(f"bad JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        # e.g. 60 KB of "[": small enough to pass the size check, deep enough to blow the stack.
        raise _Reject("bad JSON: nested too deeply") from exc
    if not isinstance(document, dict):
        raise _Reject(f"expected a JSON object, got {type(document).__name__}")
    version = document.get("schema_version", 1)
    if isinstance(version, bool) or version != 1:  # True == 1 in Python; it is not a version
        raise _Reject(f"unsupported schema_version {version!r} (this build reads 1)")
    kind = document.get("kind")
    adapter = _ADAPTERS.get(kind) if isinstance(kind, str) else None
    if adapter is None:
        raise _Reject(f"unknown kind {kind!r}: expected one of {sorted(_ADAPTERS)}")
    try:
        return adapter.validate_python(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise _Reject(f"invalid {kind}: {problems}") from exc


def _check_time(event: TelemetryEvent, limits: IngestSettings, now: datetime) -> str | None:
    skew = (event.timestamp - now).total_seconds()
    if skew > limits.max_future_skew_seconds:
        return f"timestamp {event.timestamp.isoformat()} is {skew:.0f}s in the future"
    if -skew > limits.max_event_age_seconds:
        return f"timestamp {event.timestamp.isoformat()} is older than {limits.max_event_age_seconds:.0f}s"
    return None
