"""The responder's log evidence: the dataflow's template digests, kept per service and merged per incident.

Why here and not a miner of its own: the responder reads detections, never a log line; the dataflow
already mines every line with drain3 and publishes what each service wrote as
:class:`~forewarn.events.LogTemplateDigest` messages (one per service and short period). This keeps
the recent digests and answers the grouper's question "which templates did these services write
around this incident?" by merging the digests that overlap it: counts and levels summed, first seen
the earliest, last seen the latest. Digests carry an id, so a re-delivered one is counted once.

Bounded: per service at most ``max_digests`` digests, none older than ``retention_seconds`` before
the service's newest one (event time).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from forewarn.events import LogTemplateDigest, LogTemplateSummary


class LogEvidence:
    """Recent template digests per service; :meth:`summaries` is an ``IncidentGrouper`` template source."""

    def __init__(self, *, retention_seconds: float = 3600.0, max_digests: int = 1000) -> None:
        self.retention = timedelta(seconds=retention_seconds)
        self.max_digests = max_digests
        self._digests: dict[str, deque[LogTemplateDigest]] = {}

    def __repr__(self) -> str:
        return f"LogEvidence(services={sorted(self._digests)}, retention={self.retention})"

    def add(self, digest: LogTemplateDigest) -> bool:
        """Keep ``digest``; False when it was already kept (a re-delivery) and nothing changed."""
        kept = self._digests.setdefault(digest.service, deque(maxlen=self.max_digests))
        if any(d.id == digest.id for d in kept):
            return False
        kept.append(digest)
        newest = max(d.window_end for d in kept)
        while kept and kept[0].window_end < newest - self.retention:
            kept.popleft()
        return True

    def summaries(self, service: str, since: datetime, until: datetime) -> list[LogTemplateSummary]:
        """``service``'s templates seen in [since, until], merged over its digests, most severe first."""
        found = (
            t
            for d in self._digests.get(service, ())
            if d.window_end >= since and d.window_start <= until
            for t in d.templates
            if t.last_seen >= since and t.first_seen <= until
        )
        return merge_templates(found)


def merge_templates(templates: Iterable[LogTemplateSummary]) -> list[LogTemplateSummary]:
    """One summary per template id: counts and levels summed, first/last seen min/max, newest text."""
    merged: dict[str, LogTemplateSummary] = {}
    for t in templates:
        seen = merged.get(t.template_id)
        if seen is None:
            merged[t.template_id] = t
            continue
        levels = dict(seen.levels)
        for level, count in t.levels.items():
            levels[level] = levels.get(level, 0) + count
        merged[t.template_id] = seen.model_copy(
            update={
                "template": t.template if t.last_seen >= seen.last_seen else seen.template,
                "count": seen.count + t.count,
                "levels": levels,
                "first_seen": min(seen.first_seen, t.first_seen),
                "last_seen": max(seen.last_seen, t.last_seen),
                "new": seen.new or t.new,
            }
        )
    return sorted(merged.values(), key=template_rank)


def template_rank(summary: LogTemplateSummary) -> tuple[int, int, str]:
    """Most severe lines first (critical 3, error 2, warning 1 per line), then the most frequent."""
    levels = summary.levels
    weight = levels.get("CRITICAL", 0) * 3 + levels.get("ERROR", 0) * 2 + levels.get("WARNING", 0)
    return (-weight, -summary.count, summary.template_id)


__all__ = ["LogEvidence", "merge_templates", "template_rank"]
