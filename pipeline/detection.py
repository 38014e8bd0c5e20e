"""Per-series detector state and the step that turns an observation into detections.

Why plain classes: the Bytewax operator only calls :meth:`DetectionEngine.step`; everything that
decides *whether* and *what* to report is here, testable without a dataflow.

Alerting rule (documented in the README):
- A detector's score crosses :data:`ALERT_SCORE` (0.5) exactly at its own threshold (see
  ``models/zscore.py``); a series *enters* an episode when its score reaches 0.5 and *leaves* it
  when the score falls below :data:`CLEAR_SCORE` (0.4). The gap (hysteresis) keeps a series that
  hovers at the threshold from re-alerting on every other event.
- With the z-score model, latency and metric series enter only after ``detector.persistence`` (3)
  anomalous observations in a row: one slow probe on a busy host is not an incident. The likelihood
  and context models weigh evidence over time themselves and, like failure series (their EW rate
  already needs 2 failures in a row), enter on the first crossing.
- Inside an episode a detection is emitted on entry, on escalation to a higher severity, and then at
  most every ``detector.realert_seconds`` of event time (0 = every anomalous event). A 10-minute
  outage probed every second is therefore ~3 detections (entry, critical, one reminder), not 600.
- Event time, not wall time, drives this, so a replay after recovery emits the same detections with
  the same ids (:meth:`forewarn.events.Detection.make_id`) and idempotent sinks drop the duplicates.
- An observation older than the last one seen on its series is late (a straggler or a duplicate
  from a retried send) and is ignored: online detectors must see each series in order.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from forewarn.events import Detection, Severity
from forewarn.models.alert_scale import AlertScaled
from forewarn.models.base import AnomalyScore, Detector, score_learn
from forewarn.models.cad import ContextDetector
from forewarn.models.ensemble import LikelihoodContextDetector
from forewarn.models.likelihood import LikelihoodDetector
from forewarn.models.record import RecordLikelihoodDetector
from forewarn.models.zscore import EWFailureRate, EWZScore
from forewarn.pipeline.counters import CounterReading, counter_rate
from forewarn.pipeline.observations import Observation, Signal
from forewarn.settings import DetectorSettings

ALERT_SCORE = 0.5
CLEAR_SCORE = 0.4
CRITICAL_SCORE = 0.9

_DETECTION_KIND: dict[Signal, str] = {
    "latency": "latency_anomaly",
    "failure": "failure",
    "metric": "metric_anomaly",
    "log_errors": "log_errors",
}

DetectorFactory = Callable[[Observation], Detector]

__all__ = [
    "ALERT_SCORE",
    "CLEAR_SCORE",
    "AlertState",
    "DetectionEngine",
    "DetectorFactory",
    "SeriesSnapshot",
    "SeriesState",
    "default_detector_factory",
    "severity_for",
]


@runtime_checkable
class Explains(Protocol):
    """Optional: detectors that can say which numbers drove a score (before learning)."""

    def explain_one(self, x: Mapping[str, float]) -> dict[str, float]: ...


def default_detector_factory(settings: DetectorSettings) -> DetectorFactory:
    """One detector per series, chosen by signal and ``settings.model``."""

    def build(observation: Observation) -> Detector:
        if observation.signal in ("failure", "log_errors"):
            return EWFailureRate(alpha=settings.failure_alpha, rate_threshold=settings.failure_rate_threshold)
        if settings.model == "cad":
            # the context detector's own alert threshold (0.75) read as the dataflow's 0.5
            cad = ContextDetector(feature=observation.feature)
            return AlertScaled(cad, threshold=cad.base_threshold)
        # Latency only matters when it rises; a gauge (pool in use, memory) can fail both ways.
        direction = "up" if observation.signal == "latency" else "both"
        if settings.model == "likelihood_record":
            return RecordLikelihoodDetector(feature=observation.feature, direction=direction)
        if settings.model == "likelihood":
            return LikelihoodDetector(feature=observation.feature, direction=direction)
        if settings.model == "likelihood_cad":
            return LikelihoodContextDetector(feature=observation.feature, direction=direction)
        return EWZScore(
            alpha=settings.alpha,
            warmup=settings.warmup,
            z_threshold=settings.z_threshold,
            # Latency only matters when it rises; a gauge (pool in use, memory) can fail both ways.
            direction="up" if observation.signal == "latency" else "both",
        )

    return build


def severity_for(score: float) -> Severity:
    if score >= CRITICAL_SCORE:
        return Severity.CRITICAL
    if score >= ALERT_SCORE:
        return Severity.WARNING
    return Severity.INFO


def _higher(current: Severity | None, new: Severity) -> Severity:
    if current is None or new.rank > current.rank:
        return new
    return current


@dataclass(frozen=True, slots=True)
class AlertState:
    """Where a series stands in its alert episode. Frozen, so a snapshot can share it as is."""

    active: bool = False
    severity: Severity | None = None  # highest severity emitted in the current episode
    last_emitted: datetime | None = None
    last_timestamp: datetime | None = None  # event time of the last observation learned
    streak: int = 0  # anomalous observations in a row (score >= ALERT_SCORE)


@dataclass(frozen=True, slots=True)
class SeriesSnapshot:
    """What Bytewax recovery stores per series: the pickled detector, the alert state, and for a
    counter its last reading."""

    detector: bytes
    alert: AlertState
    counter: CounterReading | None = None


@dataclass(slots=True)
class SeriesState:
    """The live state of one series: its detector (mutated by learning), its alert state, and for a
    cumulative counter its last reading (the rate needs the one before)."""

    detector: Detector
    alert: AlertState
    counter: CounterReading | None = None

    def snapshot(self) -> SeriesSnapshot:
        """Cheap and immutable: the simple detectors pickle to ~200 bytes; the alert is frozen."""
        detector = pickle.dumps(self.detector, protocol=pickle.HIGHEST_PROTOCOL)
        return SeriesSnapshot(detector, self.alert, self.counter)

    @classmethod
    def restore(cls, snapshot: SeriesSnapshot) -> SeriesState:
        # getattr: snapshots written before counters were modelled have no such slot
        counter = getattr(snapshot, "counter", None)
        return cls(detector=pickle.loads(snapshot.detector), alert=snapshot.alert, counter=counter)


class DetectionEngine:
    """Builds series state and runs the score -> learn -> alert step. Clock injected for tests."""

    def __init__(
        self,
        settings: DetectorSettings,
        clock: Callable[[], datetime],
        factory: DetectorFactory | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.factory = factory or default_detector_factory(settings)

    def new_state(self, observation: Observation) -> SeriesState:
        return SeriesState(detector=self.factory(observation), alert=AlertState())

    @staticmethod
    def is_late(state: SeriesState, observation: Observation) -> bool:
        last = state.alert.last_timestamp
        return last is not None and observation.timestamp < last

    def step(self, state: SeriesState, observation: Observation) -> tuple[SeriesState, list[Detection]]:
        """Score the observation, learn it, and return the detections it triggers (0 or 1)."""
        if self.is_late(state, observation):
            return state, []
        t = observation.timestamp.timestamp()
        if observation.cumulative:
            rate, state.counter = counter_rate(state.counter, observation.value, t)
            if rate is None:  # the first reading, or a resend of the last: no rate yet
                return state, []
            observation = observation._replace(value=rate)
        x = {observation.feature: observation.value}
        detector = state.detector
        explain_one = getattr(detector, "explain_one", None)
        facts: dict[str, float] = {}
        if callable(explain_one):
            # Explanations are only needed for a detection, but must see the state before learning.
            result = detector.score_one(x, t)
            if result.score >= ALERT_SCORE:
                facts = explain_one(x)
            detector.learn_one(x, t)
        else:
            result = score_learn(detector, x, t)
        previous = state.alert
        anomalous = result.score >= ALERT_SCORE
        streak = previous.streak + 1 if anomalous else 0
        # The hot path builds the frozen state directly (dataclasses.replace costs ~10x more).
        alert = AlertState(
            previous.active, previous.severity, previous.last_emitted, observation.timestamp, streak
        )
        detections: list[Detection] = []
        if anomalous and (alert.active or streak >= self._persistence(observation.signal)):
            severity = severity_for(result.score)
            if self._should_emit(alert, severity, observation.timestamp):
                if streak > 1:
                    facts = {**facts, "anomalous_in_a_row": float(streak)}
                detections.append(self._detection(observation, detector, result, facts, severity))
                top = severity if not alert.active else _higher(alert.severity, severity)
                alert = replace(alert, active=True, severity=top, last_emitted=observation.timestamp)
        elif alert.active and result.score < CLEAR_SCORE:
            alert = replace(alert, active=False, severity=None)
        state.alert = alert
        return state, detections

    def _persistence(self, signal: Signal) -> int:
        if signal in ("failure", "log_errors") or self.settings.model != "zscore":
            return 1
        return self.settings.persistence

    def _should_emit(self, alert: AlertState, severity: Severity, timestamp: datetime) -> bool:
        if not alert.active or alert.severity is None or alert.last_emitted is None:
            return True
        if severity.rank > alert.severity.rank:
            return True
        elapsed = (timestamp - alert.last_emitted).total_seconds()
        return elapsed >= self.settings.realert_seconds

    def _detection(
        self,
        observation: Observation,
        detector: Detector,
        result: AnomalyScore,
        facts: dict[str, float],
        severity: Severity,
    ) -> Detection:
        name = str(getattr(detector, "name", type(detector).__name__))
        kind = _DETECTION_KIND[observation.signal]
        features = {"value": observation.value, **facts}
        return Detection(
            id=Detection.make_id(observation.series, name, kind, observation.timestamp),
            service=observation.service,
            series=observation.series,
            detection_kind=kind,
            detector=name,
            timestamp=observation.timestamp,
            detected_at=self.clock(),
            score=min(max(result.score, 0.0), 1.0),
            confidence=min(max(result.confidence, 0.0), 1.0),
            severity=severity,
            value=observation.value,
            expected=result.expected,
            reason=explain(observation, result, facts, name),
            features=features,
        )


def explain(observation: Observation, result: AnomalyScore, facts: Mapping[str, float], detector: str) -> str:
    """A sentence an on-call human understands, from the numbers that drove the score."""
    svc, value = observation.service, observation.value
    context = f" (last: {observation.context})" if observation.context else ""
    if observation.signal == "failure" and "failure_rate" in facts:
        run = int(facts.get("consecutive_failures", 0))
        return (
            f"{svc} is failing: {run} consecutive failed probe{'s' if run != 1 else ''}, "
            f"failure rate {facts['failure_rate']:.0%} >= {facts.get('rate_threshold', 0.5):.0%}{context}"
        )
    if observation.signal == "log_errors" and "failure_rate" in facts:
        run = int(facts.get("consecutive_failures", 0))
        return (
            f"{svc} logs are mostly errors: {facts['failure_rate']:.0%} of recent lines "
            f"({run} in a row){context}"
        )
    if "novelty" in facts:  # the context detector: which of its rules fired
        lo, hi = facts.get("range_low", 0.0), facts.get("range_high", 0.0)
        if facts.get("beyond_range"):  # the stronger statement when both fire, with the numbers
            what = f"outside the range it has learned ({lo:.4g} to {hi:.4g})"
        elif facts.get("new_record"):
            what = "a new record, past every value seen by more than 5% of their span"
        else:
            learned = int(facts.get("contexts", 0))
            what = f"a sequence of values its {learned} learned contexts did not predict"
        return (
            f"{svc} {observation.feature} = {value:.4g}: {what} "
            f"(novelty {facts['novelty']:.2f}, by {detector}){context}"
        )
    streak = int(facts.get("anomalous_in_a_row", 1))
    if "z" in facts and "ew_mean" in facts:
        z, mean, std = facts["z"], facts["ew_mean"], facts.get("ew_std", 0.0)
        threshold = facts.get("z_threshold", 0.0)
        if observation.signal == "latency":
            row = f"; {streak} slow probes in a row" if streak > 1 else ""
            return (
                f"{svc} latency {value:.0f} ms is {z:.1f} sigma above its recent normal of "
                f"{mean:.0f} +/- {std:.0f} ms (alert at {threshold:g} sigma{row})"
            )
        row = f"; {streak} in a row" if streak > 1 else ""
        return (
            f"{svc} {observation.feature} = {value:.4g} is {z:+.1f} sigma from its recent normal of "
            f"{mean:.4g} +/- {std:.2g} (alert at {threshold:g} sigma{row})"
        )
    expected = f", expected about {result.expected:.4g}" if result.expected is not None else ""
    scored = f"{svc} {observation.feature} = {value:.4g} scored {result.score:.2f} by {detector}"
    return f"{scored}{expected}{context}"
