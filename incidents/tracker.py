"""One object for the dataflow/demo to call: logs -> detections, detections -> reported incidents.

Why: the wiring (a Bytewax step, the demo's loop) should be two calls, not a recipe. The tracker owns
a :class:`LogPatternMiner`, an :class:`IncidentGrouper` and an :class:`IncidentReporter`, and decides
when a report is (re)written: when an incident opens, when its severity rises and when its root
service changes. Other updates keep the previous report, so a long outage costs one or two LLM calls,
not one per detection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from forewarn.events import Detection, Incident, IncidentReport, LogRecord
from forewarn.incidents.grouping import IncidentGrouper
from forewarn.incidents.log_patterns import LogPatternMiner
from forewarn.incidents.reporter import IncidentReporter


class ReportWriter(Protocol):
    """What writes a report: the ``IncidentReporter`` (LLM or offline), or a test's stand-in."""

    def report(self, incident: Incident) -> IncidentReport: ...


class IncidentTracker:
    """``observe_log`` feeds the miner; ``observe_detection`` returns the incident to publish."""

    def __init__(
        self,
        miner: LogPatternMiner | None = None,
        grouper: IncidentGrouper | None = None,
        reporter: ReportWriter | None = None,
    ) -> None:
        self.miner = miner or LogPatternMiner()
        self.grouper = grouper or IncidentGrouper(template_source=self.miner.summaries)
        if self.grouper.template_source is None:
            self.grouper.template_source = self.miner.summaries
        self.reporter: ReportWriter = reporter or IncidentReporter()
        self._reported: dict[str, tuple[str, str]] = {}  # incident id -> (severity, root) last reported
        self._reports: dict[str, Incident] = {}

    def __repr__(self) -> str:
        return f"IncidentTracker(open={len(self.grouper.open_incidents)}, reporter={self.reporter!r})"

    def observe_log(self, record: LogRecord) -> list[Detection]:
        """Mine one log record; the detections it returns go to the detections topic *and* back here."""
        return self.miner.observe(record)

    def observe_detection(self, detection: Detection) -> Incident | None:
        """Group one detection; returns the incident (with its report) to publish, None for a duplicate."""
        incident = self.group(detection)
        return None if incident is None else self.with_report(incident)

    def group(self, detection: Detection) -> Incident | None:
        """Only group (no report yet): callers that must act first (healing) report afterwards."""
        return self.grouper.add(detection)

    def with_report(self, incident: Incident) -> Incident:
        """The incident with its report: rewritten on open, severity rise or root change; else the last."""
        state = (incident.severity.value, incident.service)
        previous = self._reports.get(incident.id)
        if previous is not None and self._reported.get(incident.id) == state and previous.report is not None:
            return incident.model_copy(update={"report": previous.report})
        reported = incident.model_copy(update={"report": self.reporter.report(incident)})
        self._reported[incident.id] = state
        self._reports[incident.id] = reported
        return reported

    def expire(self, now: datetime) -> list[Incident]:
        """Resolve quiet incidents (event time ``now``); returns them, with their last report, to publish."""
        out = []
        for incident in self.grouper.expire(now):
            last = self._reports.pop(incident.id, None)
            self._reported.pop(incident.id, None)
            out.append(incident.model_copy(update={"report": last.report if last else None}))
        return out


__all__ = ["IncidentTracker", "ReportWriter"]
