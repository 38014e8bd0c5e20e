"""One object for the responder to call: detections and log evidence in, reported incidents out.

Why: the wiring (the responder, a test's loop) should be two calls, not a recipe. The tracker owns
an :class:`IncidentGrouper`, the :class:`LogEvidence` (the dataflow's template digests; the tracker
mines no log line itself) and an :class:`IncidentReporter`, and decides when a report is (re)written:
when an incident opens, when its severity rises, when its root service changes and when the log
templates it leads with (the :data:`CITED_TEMPLATES` most severe, what a report cites first) change.
Other updates keep the previous report, so a long outage costs a few LLM calls, not one per
detection or digest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from forewarn.events import Detection, Incident, IncidentReport, LogTemplateDigest
from forewarn.incidents.grouping import IncidentGrouper
from forewarn.incidents.log_evidence import LogEvidence
from forewarn.incidents.offline import CITED_TEMPLATES
from forewarn.incidents.reporter import IncidentReporter

_Reported = tuple[str, str, frozenset[str]]  # severity, root service, leading template ids


class ReportWriter(Protocol):
    """What writes a report: the ``IncidentReporter`` (LLM or offline), or a test's stand-in."""

    def report(self, incident: Incident) -> IncidentReport: ...


class IncidentTracker:
    """``observe_detection`` and ``observe_templates`` return the incidents to publish."""

    def __init__(
        self,
        grouper: IncidentGrouper | None = None,
        reporter: ReportWriter | None = None,
        evidence: LogEvidence | None = None,
    ) -> None:
        self.evidence = evidence or LogEvidence()
        self.grouper = grouper or IncidentGrouper()
        if self.grouper.template_source is None:
            self.grouper.template_source = self.evidence.summaries
        self.reporter: ReportWriter = reporter or IncidentReporter()
        self._reported: dict[str, _Reported] = {}  # incident id -> what its last report was written on
        self._reports: dict[str, Incident] = {}

    def __repr__(self) -> str:
        return f"IncidentTracker(open={len(self.grouper.open_incidents)}, reporter={self.reporter!r})"

    def observe_templates(self, digest: LogTemplateDigest) -> list[Incident]:
        """Keep one template digest; returns the open incidents it added evidence to (with reports)."""
        if not self.evidence.add(digest):  # a re-delivered digest: already counted
            return []
        return [self.with_report(incident) for incident in self.grouper.refresh_templates(digest.service)]

    def observe_detection(self, detection: Detection) -> Incident | None:
        """Group one detection; returns the incident (with its report) to publish, None for a duplicate."""
        incident = self.group(detection)
        return None if incident is None else self.with_report(incident)

    def group(self, detection: Detection) -> Incident | None:
        """Only group (no report yet): callers that must act first (healing) report afterwards."""
        return self.grouper.add(detection)

    def with_report(self, incident: Incident) -> Incident:
        """The incident with its report: rewritten on open, severity rise, root change or new leading
        log templates; else the last report is kept."""
        leading = frozenset(t.template_id for t in incident.log_templates[:CITED_TEMPLATES])
        state = (incident.severity.value, incident.service, leading)
        previous = self._reports.get(incident.id)
        if previous is not None and self._reported.get(incident.id) == state and previous.report is not None:
            return incident.model_copy(update={"report": previous.report})
        reported = incident.model_copy(update={"report": self.reporter.report(incident)})
        self._reported[incident.id] = state
        self._reports[incident.id] = reported
        return reported

    def end_alert(self, detection: Detection) -> list[Incident]:
        """An outside alert resolved: the incidents it closes (with their last report), to publish."""
        return self._closing(self.grouper.end_series(detection.series, detection.timestamp))

    def expire(self, now: datetime) -> list[Incident]:
        """Resolve quiet incidents (event time ``now``); returns them, with their last report, to publish."""
        return self._closing(self.grouper.expire(now))

    def _closing(self, incidents: list[Incident]) -> list[Incident]:
        out = []
        for incident in incidents:
            last = self._reports.pop(incident.id, None)
            self._reported.pop(incident.id, None)
            out.append(incident.model_copy(update={"report": last.report if last else None}))
        return out


__all__ = ["IncidentTracker", "ReportWriter"]
