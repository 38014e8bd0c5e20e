"""Group detections into incidents: one problem, one incident, one report.

Why: a database outage produces dozens of detections (database probe failures, auth login failures,
payment errors, error-log spikes). Paging, reporting and healing per detection would be noise; a
person wants one incident that says "database, since 17:02, auth and payments affected". A detection
joins an open incident when it arrives within ``window_seconds`` of the incident's latest detection
and its service is one of the incident's, or related to the incident's root service through the
dependency map (one depends on the other, directly or not). The root service is the one the others
depend on (database over auth over payments).

Plain class, deterministic for a given input order (no clock reads: time is event time), so the
fingerprint and id are stable when detections are replayed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from forewarn.events import ALERT_DETECTOR, Detection, Incident, LogTemplateSummary, MetricValue, Severity
from forewarn.settings import musobuddy_dependencies

# The default of settings ``dependencies:`` (the MusoBuddy demo); the responder passes the configured map.
DEFAULT_DEPENDENCIES: dict[str, frozenset[str]] = {
    service: frozenset(up) for service, up in musobuddy_dependencies().items()
}

TemplateSource = Callable[[str, datetime, datetime], list[LogTemplateSummary]]


class IncidentGrouper:
    """Turns a stream of detections into open incidents; ``expire`` resolves quiet ones.

    ``add`` returns the incident the detection joined (new or updated); the caller publishes it.
    ``template_source(service, since, until)`` (the responder's ``LogEvidence.summaries``, or a
    ``LogPatternMiner.summaries``) attaches the log templates its services wrote within
    ``window_seconds`` of the incident; ``refresh_templates`` re-reads them when new evidence arrives.
    """

    def __init__(
        self,
        *,
        window_seconds: float = 300.0,
        resolve_after_seconds: float = 600.0,
        dependencies: Mapping[str, Iterable[str]] | None = None,
        template_source: TemplateSource | None = None,
        max_detections: int = 200,
        max_metric_values: int = 50,
        max_templates: int = 12,
        root_skew_seconds: float = 60.0,
        max_snapshot_seen: int = 20_000,
    ) -> None:
        self.window_seconds = window_seconds
        self.root_skew_seconds = root_skew_seconds
        self.resolve_after_seconds = resolve_after_seconds
        deps = DEFAULT_DEPENDENCIES if dependencies is None else dependencies
        self.dependencies = {service: frozenset(up) for service, up in deps.items()}
        self.template_source = template_source
        self.max_detections = max_detections
        self.max_metric_values = max_metric_values
        self.max_templates = max_templates
        self._open: list[Incident] = []
        self._seen: set[str] = set()
        self._recent: deque[str] = deque(maxlen=max_snapshot_seen)  # the seen ids a snapshot keeps
        self._ended: set[str] = set()  # series of outside alerts that resolved while their incident is open

    def __repr__(self) -> str:
        return f"IncidentGrouper(window_seconds={self.window_seconds}, open={len(self._open)})"

    @property
    def open_incidents(self) -> list[Incident]:
        return list(self._open)

    def ancestors(self, service: str) -> set[str]:
        """Everything ``service`` depends on, directly or not."""
        seen: set[str] = set()
        stack = list(self.dependencies.get(service, ()))
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.dependencies.get(node, ()))
        return seen

    def related(self, a: str, b: str) -> bool:
        return a == b or a in self.ancestors(b) or b in self.ancestors(a)

    def add(self, detection: Detection) -> Incident | None:
        """Group one detection. Returns the incident it joined, or None for a duplicate id."""
        if detection.id in self._seen:
            return None
        self._seen.add(detection.id)
        self._recent.append(detection.id)
        self._ended.discard(detection.series)  # an outside alert that fires again is not over
        incident = self._match(detection)
        if incident is None:
            incident = self._open_incident(detection)
            self._open.append(incident)
        else:
            index = self._open.index(incident)
            incident = self._join(incident, detection)
            self._open[index] = incident
        return incident

    def snapshot(self) -> dict[str, Any]:
        """What a restarted responder needs to go on: the open incidents and the recent seen ids.

        Re-delivered detections (those after the last committed offset) are recent, so a bounded list
        of seen ids is enough to recognise them; the open incidents keep their ids, so a detection
        that arrives after a restart joins the incident it belongs to instead of opening (and healing)
        a second one.
        """
        return {
            "open": [incident.model_dump(mode="json") for incident in self._open],
            "seen": list(self._recent),
            "ended": sorted(self._ended),
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Go on from a :meth:`snapshot` (replaces the current state)."""
        self._open = [Incident.model_validate(item) for item in snapshot.get("open", [])]
        self._recent.clear()
        self._recent.extend(str(i) for i in snapshot.get("seen", []))
        self._seen = set(self._recent) | {d.id for i in self._open for d in i.detections}
        self._ended = {str(s) for s in snapshot.get("ended", [])}

    def refresh_templates(self, service: str) -> list[Incident]:
        """Re-attach log templates to the open incidents of ``service``; returns those that changed.

        Log evidence arrives after the detection it explains (the dataflow publishes a service's
        template digest a few seconds after its lines), so an open incident takes it in late.
        """
        changed = []
        for index, incident in enumerate(self._open):
            if service not in incident.services:
                continue
            updated = self._with_templates(incident)
            if updated.log_templates != incident.log_templates:
                self._open[index] = updated
                changed.append(updated)
        return changed

    def expire(self, now: datetime) -> list[Incident]:
        """Resolve incidents with no detection for ``resolve_after_seconds`` (event time ``now``)."""
        quiet = timedelta(seconds=self.resolve_after_seconds)
        resolved = [
            i.model_copy(update={"status": "resolved", "resolved_at": now})
            for i in self._open
            if now - i.updated_at >= quiet
        ]
        ids = {i.id for i in resolved}
        self._open = [i for i in self._open if i.id not in ids]
        return resolved

    def end_series(self, series: str, at: datetime) -> list[Incident]:
        """An outside alert's series is over (Alertmanager said resolved); returns the incidents it closes.

        An incident closes when every detection in it is an outside alert and each of those alerts has
        resolved. One that also holds forewarn's own detections stays open and resolves by going quiet
        (:meth:`expire`), since only forewarn's models can say their own signal is back to normal.
        """
        affected = [i for i in self._open if any(d.series == series for d in i.detections)]
        if not affected:
            return []
        self._ended.add(series)
        closed = [
            i.model_copy(update={"status": "resolved", "resolved_at": max(at, i.updated_at)})
            for i in affected
            if all(d.detector == ALERT_DETECTOR and d.series in self._ended for d in i.detections)
        ]
        ids = {i.id for i in closed}
        self._open = [i for i in self._open if i.id not in ids]
        for incident in closed:
            self._ended -= {d.series for d in incident.detections}
        return closed

    # ---- internals ----------------------------------------------------------------------------------

    def _match(self, detection: Detection) -> Incident | None:
        window = timedelta(seconds=self.window_seconds)
        best: Incident | None = None
        for incident in self._open:
            if abs(detection.timestamp - incident.updated_at) > window and not (
                incident.opened_at - window <= detection.timestamp <= incident.updated_at + window
            ):
                continue
            if self._belongs(detection.service, incident) and (
                best is None or incident.updated_at > best.updated_at
            ):
                best = incident
        return best

    def _belongs(self, service: str, incident: Incident) -> bool:
        """A service already in the incident, or one related to its root service.

        Why the root and not any member: a dependent shared by many services (``overall``) is
        related to all of them, so matching on members chained siblings together: an SMS latency
        blip, then the overall check, then a database pool forecast became one "SMS outage".
        """
        return service in incident.services or self.related(service, incident.service)

    def _root(self, detections: list[Detection]) -> str:
        """The probable root service.

        The earliest-detected service, unless something it depends on was also detected within
        ``root_skew_seconds`` of it (probes of a database and its dependents fail in the same round;
        the database is the cause). A dependency that failed much later is a consequence instead
        (a memory leak that ends in an OOM kill takes every check down minutes after it began).
        """
        first: dict[str, datetime] = {}
        for d in sorted(detections, key=lambda d: (d.timestamp, d.service)):
            first.setdefault(d.service, d.timestamp)
        earliest = min(first, key=lambda s: (first[s], s))
        skew = timedelta(seconds=self.root_skew_seconds)
        candidates = [
            a for a in self.ancestors(earliest) if a in first and first[a] - first[earliest] <= skew
        ]
        if not candidates:
            return earliest
        # The deepest dependency among them: the one the most services depend on.
        return min(candidates, key=lambda a: (-len(self._dependents(a)), first[a], a))

    def _dependents(self, service: str) -> set[str]:
        return {name for name in self.dependencies if service in self.ancestors(name)}

    def _open_incident(self, detection: Detection) -> Incident:
        fingerprint = Incident.make_fingerprint(detection.service, detection.detection_kind)
        incident = Incident(
            id=Incident.make_id(fingerprint, detection.timestamp),
            fingerprint=fingerprint,
            service=detection.service,
            services=[detection.service],
            opened_at=detection.timestamp,
            updated_at=detection.timestamp,
            severity=detection.severity,
            detections=[detection],
            metric_values=[_metric(detection)],
        )
        return self._with_templates(incident)

    def _join(self, incident: Incident, detection: Detection) -> Incident:
        detections = sorted([*incident.detections, detection], key=lambda d: (d.timestamp, d.id))
        if len(detections) > self.max_detections:
            # Keep the first few (how it started) and the latest (where it is now).
            head = self.max_detections // 4
            detections = detections[:head] + detections[-(self.max_detections - head) :]
        services = sorted({*incident.services, detection.service})
        root = self._root(detections)
        root_first = next(d for d in detections if d.service == root)
        metrics = [*incident.metric_values, _metric(detection)][-self.max_metric_values :]
        severity = Severity.worst([incident.severity, detection.severity])
        updated = incident.model_copy(
            update={
                "fingerprint": Incident.make_fingerprint(root, root_first.detection_kind),
                "service": root,
                "services": services,
                "updated_at": max(incident.updated_at, detection.timestamp),
                "opened_at": min(incident.opened_at, detection.timestamp),
                "severity": severity,
                "detections": detections,
                "metric_values": metrics,
            }
        )
        return self._with_templates(updated)

    def _with_templates(self, incident: Incident) -> Incident:
        if self.template_source is None:
            return incident
        # The same window that lets a detection join: lines just after the latest detection belong
        # to the ongoing incident as much as lines just before the first.
        window = timedelta(seconds=self.window_seconds)
        since, until = incident.opened_at - window, incident.updated_at + window
        templates: list[LogTemplateSummary] = []
        for service in incident.services:
            templates.extend(self.template_source(service, since, until))
        templates.sort(key=lambda t: (-t.levels.get("CRITICAL", 0) - t.levels.get("ERROR", 0), -t.count))
        return incident.model_copy(update={"log_templates": templates[: self.max_templates]})


def _metric(detection: Detection) -> MetricValue:
    return MetricValue(
        series=detection.series,
        service=detection.service,
        value=detection.value,
        expected=detection.expected,
        timestamp=detection.timestamp,
        detection_id=detection.id,
    )


__all__ = ["DEFAULT_DEPENDENCIES", "IncidentGrouper", "TemplateSource"]
