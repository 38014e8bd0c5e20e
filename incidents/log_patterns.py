"""Log template mining: what kinds of lines a service writes, how often, and when that changes.

Why drain3: raw log lines are too varied to count, but their templates ("database connection failed:
<*>") are few and stable, so a template's rate, a brand-new template and the share of error lines
are signals as useful as latency. The miner's tree is persisted (atomically, after every change) so a
restart neither forgets the templates nor reports every known one as new.

Plain class, no Bytewax: the dataflow calls :meth:`LogPatternMiner.observe` per record (keyed by
service) and forwards the returned :class:`~forewarn.events.Detection` objects to the detections
topic. Time is the records' event time; the wall clock (``clock``) only stamps ``detected_at``.
Lines are redacted before mining, so neither the state file nor a template can hold a secret.
:meth:`LogPatternMiner.digests` hands over what each service wrote since the previous call (the
dataflow publishes it on the log-templates topic, where the responder attaches it to incidents).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.persistence_handler import PersistenceHandler
from drain3.template_miner_config import TemplateMinerConfig

from forewarn.events import (
    MAX_DIGEST_TEMPLATES,
    MAX_TEMPLATE_CHARS,
    Detection,
    LogLevel,
    LogRecord,
    LogTemplateDigest,
    LogTemplateSummary,
    Severity,
)
from forewarn.incidents.log_evidence import template_rank
from forewarn.incidents.redact import Redactor

DETECTOR = "drain3"
ERROR_LEVELS = frozenset({LogLevel.ERROR, LogLevel.CRITICAL})
WARN_LEVELS = frozenset({LogLevel.WARNING})

# Mask variables before clustering so "took 812 ms" and "took 95 ms" share one template.
_MASKS = [
    MaskingInstruction(r"\[REDACTED:[a-z_0-9]+\]", "REDACTED"),
    MaskingInstruction(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"
    ),
    MaskingInstruction(r"\b[0-9a-fA-F]{16,}\b", "HEX"),
    MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)[\-+]?\d+(?:\.\d+)?%?((?=[^A-Za-z0-9])|$)", "NUM"),
]


class AtomicFilePersistence(PersistenceHandler):  # type: ignore[misc]
    """drain3 state in a file, replaced atomically so a crash mid-write never corrupts it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save_state(self, state: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(state)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_state(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None


@dataclass(slots=True)
class _Baseline:
    """EWMA mean and variance of a per-window count or ratio."""

    mean: float = 0.0
    var: float = 0.0
    windows: int = 0

    def update(self, value: float, alpha: float) -> None:
        if self.windows == 0:
            self.mean = value
        else:
            delta = value - self.mean
            self.mean += alpha * delta
            self.var = (1 - alpha) * (self.var + alpha * delta * delta)
        self.windows += 1

    def z(self, value: float, floor: float) -> float:
        return (value - self.mean) / max(math.sqrt(self.var), floor)


@dataclass(slots=True)
class _TemplateState:
    template: str
    first_seen: datetime
    last_seen: datetime
    new: bool
    total: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    window_count: int = 0
    baseline: _Baseline = field(default_factory=_Baseline)
    alerted_window: int = -1
    period: _Period | None = None  # lines since the last digest


@dataclass(slots=True)
class _Period:
    """One template's lines since the last digest (see :meth:`LogPatternMiner.digests`)."""

    first_seen: datetime
    last_seen: datetime
    count: int = 0
    levels: dict[str, int] = field(default_factory=dict)

    def add(self, record: LogRecord) -> None:
        self.first_seen = min(self.first_seen, record.timestamp)
        self.last_seen = max(self.last_seen, record.timestamp)
        self.count += 1
        self.levels[record.level.value] = self.levels.get(record.level.value, 0) + 1


@dataclass(slots=True)
class _ServiceState:
    first_seen: datetime
    window: int  # index of the current tumbling window
    lines: int = 0
    errors: int = 0
    warnings: int = 0
    ratio_baseline: _Baseline = field(default_factory=_Baseline)
    ratio_alerted_window: int = -1
    templates: dict[int, _TemplateState] = field(default_factory=dict)
    period_start: datetime | None = None  # event time of the first line since the last digest
    period_end: datetime | None = None
    period_lines: int = 0


class LogPatternMiner:
    """Mines templates per service and flags rate spikes, new templates and error-ratio jumps.

    - ``new_log_template``: a template first seen more than ``warmup_seconds`` after the service's
      first line (during warm-up every template is new, so none is reported).
    - ``log_rate_anomaly``: a template's count in the current ``window_seconds`` window exceeds its
      EWMA baseline by ``z_threshold`` deviations (and at least ``min_count`` lines), once per window.
    - ``log_error_ratio``: the share of ERROR/CRITICAL lines in the current window reaches
      ``error_ratio_threshold`` above its baseline (with at least ``min_lines`` lines), once per window.
    """

    def __init__(
        self,
        state_path: Path | None = None,
        *,
        window_seconds: float = 30.0,
        warmup_seconds: float = 120.0,
        baseline_windows: int = 4,
        z_threshold: float = 4.0,
        min_count: int = 5,
        error_ratio_threshold: float = 0.3,
        min_lines: int = 5,
        alpha: float = 0.2,
        similarity: float = 0.4,
        redactor: Redactor | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.state_path = state_path
        self.window_seconds = window_seconds
        self.warmup_seconds = warmup_seconds
        self.baseline_windows = baseline_windows
        self.z_threshold = z_threshold
        self.min_count = min_count
        self.error_ratio_threshold = error_ratio_threshold
        self.min_lines = min_lines
        self.alpha = alpha
        self.similarity = similarity
        self.redactor = redactor or Redactor()
        self.clock = clock or (lambda: datetime.now(UTC))
        config = TemplateMinerConfig()
        config.drain_sim_th = similarity
        config.masking_instructions = list(_MASKS)
        config.snapshot_interval_minutes = 10**6  # save on change only, never on a wall-clock timer
        config.snapshot_compress_state = False
        persistence = AtomicFilePersistence(state_path) if state_path is not None else None
        self._miner = TemplateMiner(persistence_handler=persistence, config=config)
        self._known_clusters = {c.cluster_id for c in self._miner.drain.clusters}
        self._services: dict[str, _ServiceState] = {}

    def __repr__(self) -> str:
        return (
            f"LogPatternMiner(state_path={self.state_path!r}, window_seconds={self.window_seconds}, "
            f"warmup_seconds={self.warmup_seconds}, z_threshold={self.z_threshold})"
        )

    @property
    def template_count(self) -> int:
        return len(self._miner.drain.clusters)

    def observe(self, record: LogRecord) -> list[Detection]:
        """Mine one record; return the detections it triggers (usually none). Never raises on content."""
        message = self.redactor.redact(record.message)[:4000]
        result: dict[str, Any] = self._miner.add_log_message(message)
        cluster_id = int(result["cluster_id"])
        template = str(result["template_mined"])
        created = result["change_type"] == "cluster_created" and cluster_id not in self._known_clusters
        self._known_clusters.add(cluster_id)

        ts = record.timestamp
        svc = self._services.get(record.service)
        if svc is None:
            svc = _ServiceState(first_seen=ts, window=self._window_of(ts))
            self._services[record.service] = svc
        detections: list[Detection] = []
        self._roll(svc, self._window_of(ts))

        state = svc.templates.get(cluster_id)
        in_warmup = (ts - svc.first_seen).total_seconds() < self.warmup_seconds
        if state is None:
            state = _TemplateState(
                template=template, first_seen=ts, last_seen=ts, new=created and not in_warmup
            )
            svc.templates[cluster_id] = state
            # Fill the baseline with the empty windows it was absent from (since the service began).
            for _ in range(min(svc.window - self._window_of(svc.first_seen), self.baseline_windows)):
                state.baseline.update(0.0, self.alpha)
            if state.new:
                detections.append(self._new_template(record, cluster_id, template))
        state.template = template
        state.last_seen = max(state.last_seen, ts)
        state.total += 1
        state.window_count += 1
        state.levels[record.level.value] = state.levels.get(record.level.value, 0) + 1
        self._count_in_period(svc, state, record)

        svc.lines += 1
        if record.level in ERROR_LEVELS:
            svc.errors += 1
        elif record.level in WARN_LEVELS:
            svc.warnings += 1

        spike = self._rate_spike(record, svc, cluster_id, state)
        if spike is not None:
            detections.append(spike)
        ratio = self._error_ratio(record, svc)
        if ratio is not None:
            detections.append(ratio)
        return detections

    def summaries(
        self, service: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[LogTemplateSummary]:
        """Templates of ``service`` seen in [since, until], most frequent first (for incidents)."""
        svc = self._services.get(service)
        if svc is None:
            return []
        out = []
        for cluster_id, state in svc.templates.items():
            if since is not None and state.last_seen < since:
                continue
            if until is not None and state.first_seen > until:
                continue
            total = _Period(state.first_seen, state.last_seen, state.total, dict(state.levels))
            out.append(_summary(service, cluster_id, state, total))
        out.sort(key=template_rank)
        return out

    def pending_since(self) -> datetime | None:
        """Event time of the oldest line not yet in a digest (any service), None when all are."""
        starts = [svc.period_start for svc in self._services.values() if svc.period_start is not None]
        return min(starts, default=None)

    def digests(self) -> list[LogTemplateDigest]:
        """Per service, the templates seen since the previous call (top N), and start a new period."""
        out = []
        for service, svc in self._services.items():
            if svc.period_start is None or svc.period_end is None:
                continue
            summaries = []
            for cluster_id, state in svc.templates.items():
                if state.period is None:
                    continue
                summaries.append(_summary(service, cluster_id, state, state.period))
                state.period = None
            summaries.sort(key=template_rank)
            out.append(
                LogTemplateDigest(
                    id=LogTemplateDigest.make_id(service, svc.period_start, svc.period_end),
                    service=service,
                    window_start=svc.period_start,
                    window_end=svc.period_end,
                    lines=svc.period_lines,
                    templates=summaries[:MAX_DIGEST_TEMPLATES],
                )
            )
            svc.period_start = svc.period_end = None
            svc.period_lines = 0
        return out

    def error_ratio(self, service: str) -> float | None:
        """Share of ERROR/CRITICAL lines in the current window, or None before any line."""
        svc = self._services.get(service)
        if svc is None or svc.lines == 0:
            return None
        return svc.errors / svc.lines

    # ---- internals ----------------------------------------------------------------------------------

    @staticmethod
    def _count_in_period(svc: _ServiceState, state: _TemplateState, record: LogRecord) -> None:
        ts = record.timestamp
        svc.period_start = ts if svc.period_start is None else min(svc.period_start, ts)
        svc.period_end = ts if svc.period_end is None else max(svc.period_end, ts)
        svc.period_lines += 1
        if state.period is None:
            state.period = _Period(first_seen=ts, last_seen=ts)
        state.period.add(record)

    def _window_of(self, ts: datetime) -> int:
        return math.floor(ts.timestamp() / self.window_seconds)

    def _roll(self, svc: _ServiceState, window: int) -> None:
        """Close every window before ``window``: fold its counts (zeros included) into the baselines."""
        if window <= svc.window:
            return  # late or same-window record: counted in the current window
        closed = min(window - svc.window, self.baseline_windows + 1)
        for i in range(closed):
            for state in svc.templates.values():
                state.baseline.update(float(state.window_count if i == 0 else 0), self.alpha)
                state.window_count = 0
            if svc.lines >= self.min_lines and i == 0:
                svc.ratio_baseline.update(svc.errors / svc.lines, self.alpha)
            svc.lines = svc.errors = svc.warnings = 0
        svc.window = window

    def _rate_spike(
        self, record: LogRecord, svc: _ServiceState, cluster_id: int, state: _TemplateState
    ) -> Detection | None:
        if state.alerted_window == svc.window or state.baseline.windows < self.baseline_windows:
            return None
        count = state.window_count
        if count < self.min_count:
            return None
        z = state.baseline.z(count, floor=1.0)
        if z < self.z_threshold:
            return None
        state.alerted_window = svc.window
        severity = Severity.CRITICAL if record.level in ERROR_LEVELS else Severity.WARNING
        if record.level not in ERROR_LEVELS and record.level not in WARN_LEVELS:
            severity = Severity.INFO
        series = f"{record.service}/log_template/{cluster_id}"
        return self._detection(
            record,
            series=series,
            kind="log_rate_anomaly",
            value=float(count),
            expected=state.baseline.mean,
            score=min(1.0, z / (2 * self.z_threshold)),
            confidence=min(1.0, state.baseline.windows / (2 * self.baseline_windows)),
            severity=severity,
            reason=(
                f"log template '{state.template}' appeared {count} times in {self.window_seconds:.0f} s "
                f"(usually {state.baseline.mean:.1f}, z={z:.1f})"
            ),
            features={"count": float(count), "baseline_mean": state.baseline.mean, "z": z},
        )

    def _error_ratio(self, record: LogRecord, svc: _ServiceState) -> Detection | None:
        if svc.ratio_alerted_window == svc.window or svc.lines < self.min_lines:
            return None
        ratio = svc.errors / svc.lines
        expected = svc.ratio_baseline.mean if svc.ratio_baseline.windows else 0.0
        if ratio - expected < self.error_ratio_threshold:
            return None
        svc.ratio_alerted_window = svc.window
        severity = Severity.CRITICAL if ratio >= 0.5 else Severity.WARNING
        return self._detection(
            record,
            series=f"{record.service}/log_error_ratio",
            kind="log_error_ratio",
            value=ratio,
            expected=expected,
            score=min(1.0, ratio),
            confidence=min(1.0, svc.lines / (4 * self.min_lines)),
            severity=severity,
            reason=(
                f"{svc.errors} of {svc.lines} log lines in the current {self.window_seconds:.0f} s window "
                f"are errors ({ratio:.0%}, usually {expected:.0%})"
            ),
            features={
                "errors": float(svc.errors),
                "lines": float(svc.lines),
                "warnings": float(svc.warnings),
            },
        )

    def _new_template(self, record: LogRecord, cluster_id: int, template: str) -> Detection:
        severity = (
            Severity.WARNING if record.level in ERROR_LEVELS or record.level in WARN_LEVELS else Severity.INFO
        )
        return self._detection(
            record,
            series=f"{record.service}/log_template/{cluster_id}",
            kind="new_log_template",
            value=1.0,
            expected=0.0,
            score=0.7 if severity is Severity.WARNING else 0.4,
            confidence=0.6,
            severity=severity,
            reason=f"new {record.level.value} log template: '{template}'",
            features={"cluster_id": float(cluster_id)},
        )

    def _detection(
        self,
        record: LogRecord,
        *,
        series: str,
        kind: str,
        value: float,
        expected: float | None,
        score: float,
        confidence: float,
        severity: Severity,
        reason: str,
        features: dict[str, float],
    ) -> Detection:
        return Detection(
            id=Detection.make_id(series, DETECTOR, kind, record.timestamp),
            service=record.service,
            series=series,
            detection_kind=kind,
            detector=DETECTOR,
            timestamp=record.timestamp,
            detected_at=self.clock(),
            score=max(0.0, min(1.0, score)),
            confidence=max(0.0, min(1.0, confidence)),
            severity=severity,
            value=value,
            expected=expected,
            reason=reason[:1000],
            features=features,
        )


def _summary(service: str, cluster_id: int, state: _TemplateState, lines: _Period) -> LogTemplateSummary:
    """The summary of one template over ``lines`` (all its lines, or a digest's period)."""
    return LogTemplateSummary(
        template_id=f"{service}:{cluster_id}",
        service=service,
        template=state.template[:MAX_TEMPLATE_CHARS],
        count=lines.count,
        levels=lines.levels,
        first_seen=lines.first_seen,
        last_seen=lines.last_seen,
        new=state.new,
    )


__all__ = ["DETECTOR", "AtomicFilePersistence", "LogPatternMiner"]
