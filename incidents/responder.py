"""The responder closes the loop: detections in (exhaustion forecasts included), incidents and actions out.

Why a separate stage after the dataflow: detection must stay fast and stateless about the outside
world, while responding talks to people (reports) and to the service (admin API), which is slow
and must be exactly-once in effect. The responder reads the detections topic, groups
detections into incidents (``IncidentTracker``), asks the healing executor to act (its idempotency
keys make re-deliveries harmless), writes each incident's report, and publishes incidents and action
records so the API and the dashboard see them. It also reads the log-templates topic (the dataflow's
per-service drain3 digests) and republishes the open incidents that gain log evidence from it.

Healing never waits for, or reads, the report: the LLM is advisory only. Order per message is
heal first, then report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from forewarn.events import ALERT_RESOLVED, ActionEvent, Detection, Incident, LogTemplateDigest
from forewarn.healing.records import ActionDecision, topic_events
from forewarn.healing.triggers import Trigger
from forewarn.incidents.tracker import IncidentTracker
from forewarn.settings import TopicSettings

if TYPE_CHECKING:
    from forewarn.incidents.responder_metrics import ResponderMetrics

log = logging.getLogger(__name__)

Publish = Callable[[str, str, bytes], None]


class Executor(Protocol):
    def handle(self, trigger: Trigger) -> list[ActionDecision]: ...

    def tick(self) -> Any: ...

    def resolve(self, group_id: str) -> Any: ...


class Requests(Protocol):
    """Operator requests queued for this process (``forewarn.healing.control.ControlApplier``)."""

    def apply_pending(self) -> list[ActionEvent]: ...


class Responder:
    """Plain class: feed it messages, it publishes what follows. No Kafka, no threads inside."""

    def __init__(
        self,
        topics: TopicSettings,
        *,
        executor: Executor,
        tracker: IncidentTracker,
        publish: Publish,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: ResponderMetrics | None = None,
        requests: Requests | None = None,
    ) -> None:
        self.topics = topics
        self.requests = requests
        self.metrics = metrics
        self.executor = executor
        self.publish = publish
        self.tracker = tracker
        self.clock = clock
        self.rejected = 0

    # -- inputs --------------------------------------------------------------------------------
    def on_message(self, topic: str, value: bytes) -> list[ActionDecision]:
        """Route one raw message; bad ones are counted and skipped (they were validated upstream)."""
        try:
            if topic == self.topics.detections:
                return self.on_detection(Detection.model_validate_json(value))
            if topic == self.topics.log_templates:
                self.on_log_templates(LogTemplateDigest.model_validate_json(value))
        except ValidationError as exc:
            self.rejected += 1
            log.warning("skipping a malformed %s message: %s", topic, exc.errors()[:1])
        return []

    def on_detection(self, detection: Detection) -> list[ActionDecision]:
        if detection.detection_kind == ALERT_RESOLVED:
            # An outside alert ended: close what it opened; nothing to heal.
            for closed in self.tracker.end_alert(detection):
                self.publish(self.topics.incidents, closed.service, closed.to_json_bytes())
            return []
        incident = self.tracker.group(detection)
        if incident is None:  # a re-delivered detection: already grouped and handled
            return []
        if self.metrics is not None:
            self.metrics.observe_detection(detection)
        records = self._heal(trigger_for(detection, incident.id))
        reported = self.tracker.with_report(incident)
        self.publish(self.topics.incidents, reported.service, reported.to_json_bytes())
        return records

    def on_log_templates(self, digest: LogTemplateDigest) -> list[Incident]:
        """Attach a service's template digest to its open incidents; publish those that changed.

        Evidence only: healing is never asked again for it (the detections already were).
        """
        incidents = self.tracker.observe_templates(digest)
        for incident in incidents:
            self.publish(self.topics.incidents, incident.service, incident.to_json_bytes())
        return incidents

    def tick(self) -> list[Incident]:
        """Time-driven work: operator requests, escalation ladders, resolving incidents that went quiet.

        The responder owns the one healing executor, so approvals, rejections and manual triggers made
        through the API or the CLI (queued in the state store) are applied here, between messages.
        """
        if self.requests is not None:
            self._publish_actions(self.requests.apply_pending())
        self.executor.tick()
        if self.metrics is not None:
            self.metrics.beat(self.executor)
        resolved = self.tracker.expire(self.clock())
        for incident in resolved:
            self.executor.resolve(incident.id)  # ends its escalation; PagerDuty gets `resolve`
            self.publish(self.topics.incidents, incident.service, incident.to_json_bytes())
        return resolved

    # -- outputs -------------------------------------------------------------------------------
    def _heal(self, trigger: Trigger) -> list[ActionDecision]:
        return self.publish_decisions(self.executor.handle(trigger))

    def publish_decisions(self, records: list[ActionDecision]) -> list[ActionDecision]:
        """Count and publish the executor's records (a heal's, or those of the start-up recovery)."""
        if self.metrics is not None:
            self.metrics.observe_records(records)
        self._publish_actions(topic_events(records))
        return records

    def _publish_actions(self, events: list[ActionEvent]) -> None:
        for event in events:
            self.publish(self.topics.actions, event.service, event.to_json_bytes())


def trigger_for(detection: Detection, incident_id: str) -> Trigger:
    """The healing trigger of a detection; an exhaustion forecast stays a *forecast* trigger.

    Forecasts reach healing only as the dataflow's ``exhaustion_forecast`` detections, which passed
    its checks (P(breach), forecaster confidence, and a slope several standard errors above zero).
    Raw forecast messages do not: a fresh forecaster extrapolating a start-up ramp can say P=0.9.
    Keeping ``source="forecast"`` and the lead time lets the executor apply its "act early only with
    reversible actions" rule.
    """
    trigger = Trigger.from_detection(detection, incident_id=incident_id)
    if detection.detection_kind != "exhaustion_forecast":
        return trigger
    figures = detection.forecast
    return Trigger(
        **{
            **trigger.model_dump(),
            "source": "forecast",
            "breach_probability": figures.breach_probability if figures is not None else None,
            "lead_time_seconds": figures.time_to_exhaustion_seconds if figures is not None else None,
        }
    )
