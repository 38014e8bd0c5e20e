"""Turn telemetry events into per-series observations, the unit the detectors learn from.

Why a separate step: a probe result carries two signals with different normal behaviour (how long
the check took, and whether it failed), and each must be learned by its own detector state, keyed
by its own series name so Bytewax routes it to one worker and keeps its order. Series names are
``<service>/<signal>``: ``auth/latency_ms``, ``auth/failure``, ``database/db_pool_in_use``,
``auth/log_errors``. A cumulative counter is learned as its rate: ``web/rate(http_requests_total)``,
a series of its own, so a sender that starts marking a counter never feeds rates to a level's model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple

from forewarn.events import LogLevel, LogRecord, MetricSample, ProbeResult, TelemetryEvent
from forewarn.pipeline.cardinality import series_name

Signal = Literal["latency", "failure", "metric", "log_errors"]

LATENCY_FEATURE = "latency_ms"
FAILURE_FEATURE = "failure"
LOG_ERRORS_FEATURE = "log_errors"
# A metric whose name equals one of the probe-derived series would share (and corrupt) that state.
_RESERVED = frozenset({LATENCY_FEATURE, FAILURE_FEATURE, LOG_ERRORS_FEATURE})
_ERROR_LEVELS = frozenset({LogLevel.ERROR, LogLevel.CRITICAL})

__all__ = ["Observation", "Signal", "observations_from"]


class Observation(NamedTuple):
    """One value of one series at one event time, plus a short human context (e.g. the HTTP error).

    A named tuple, not a frozen dataclass: one or two are built per event, and a tuple is built in
    half the time (a frozen dataclass sets each field through ``object.__setattr__``).
    """

    series: str
    service: str
    signal: Signal
    feature: str
    value: float
    timestamp: datetime
    context: str | None = None
    cumulative: bool = False  # value is a running total: the detection engine turns it into a rate


def observations_from(event: TelemetryEvent) -> list[Observation]:
    """The observations an event contributes (possibly none)."""
    if isinstance(event, ProbeResult):
        return _from_probe(event)
    if isinstance(event, MetricSample):
        return [_from_metric(event)]
    if isinstance(event, LogRecord):
        return [_from_log(event)]
    return []


def _probe_context(probe: ProbeResult) -> str | None:
    """E.g. "HTTP 503, status down, db unreachable"; parts the error text already says are left out."""
    code = f"HTTP {probe.status_code}" if probe.status_code is not None else None
    status = f"status {probe.status}" if probe.status is not None else None
    error = (probe.error or "")[:200]
    if not error:  # the common case, once per probe: no list to build
        return f"{code}, {status}" if code and status else code or status
    parts = [part for part in (code, status) if part is not None and part not in error]
    parts.append(error)
    return ", ".join(parts)


def _from_probe(probe: ProbeResult) -> list[Observation]:
    context = _probe_context(probe)
    svc, at, failed = probe.service, probe.timestamp, 0.0 if probe.ok else 1.0
    failure = Observation(f"{svc}/failure", svc, "failure", FAILURE_FEATURE, failed, at, context)
    if probe.status_code is None:
        # No HTTP response (timeout, refused): the latency is the probe's timeout, not the
        # service's; the failure series already says the service is unreachable.
        return [failure]
    latency = Observation(f"{svc}/latency_ms", svc, "latency", LATENCY_FEATURE, probe.latency_ms, at, context)
    return [latency, failure]


def _from_metric(sample: MetricSample) -> Observation:
    if sample.cumulative:  # PromQL's spelling, which on-call people read at once
        name = feature = f"rate({sample.name})"
    else:
        name = f"metric.{sample.name}" if sample.name in _RESERVED else sample.name
        feature = sample.name
    return Observation(
        series=series_name(sample.service, name, sample.labels),
        service=sample.service,
        signal="metric",
        feature=feature,
        value=sample.value,
        timestamp=sample.timestamp,
        context=sample.unit,
        cumulative=sample.cumulative,
    )


def _from_log(record: LogRecord) -> Observation:
    is_error = record.level in _ERROR_LEVELS
    return Observation(
        series=f"{record.service}/{LOG_ERRORS_FEATURE}",
        service=record.service,
        signal="log_errors",
        feature=LOG_ERRORS_FEATURE,
        value=1.0 if is_error else 0.0,
        timestamp=record.timestamp,
        context=record.message[:200] if is_error else None,
    )
