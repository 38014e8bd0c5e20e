"""The offline reporter: a deterministic report built from the evidence alone.

Why: the system must stay useful with no LLM configured, with the budget spent, with the model down or
answering nonsense. Rules read the incident's series names, detection kinds and log templates (the
same facts an on-call engineer would look at first) and name a cause category, the root service and
the standard runbook for it. Same incident in, same report out.
"""

from __future__ import annotations

import re

from forewarn.events import (
    CauseCategory,
    Detection,
    EvidenceItem,
    Incident,
    LogTemplateSummary,
    ReportBody,
)

CITED_TEMPLATES = 2  # the most severe log templates a report cites

# (category, pattern over "series kind reason template" text of the root service, weight)
_SIGNS: list[tuple[CauseCategory, re.Pattern[str]]] = [
    ("memory_exhaustion", re.compile(r"memory|oom", re.I)),
    ("disk_exhaustion", re.compile(r"disk|no space|cache_bytes", re.I)),
    ("connection_pool_exhaustion", re.compile(r"pool|waiters|acquire", re.I)),
    ("database_down", re.compile(r"connection (?:failed|refused)|database .*(?:down|unreachable)", re.I)),
    ("provider_outage", re.compile(r"smtp|delivery failed|sms|email|503", re.I)),
    ("provider_errors", re.compile(r"payment|declined|402|502|error_rate", re.I)),
    ("traffic_overload", re.compile(r"login took|latency|overload|slow", re.I)),
]

RUNBOOKS: dict[CauseCategory, list[str]] = {
    "database_down": [
        "Check the database process and host: is it running and accepting connections?",
        "Look at the database log for the first error before the outage.",
        "Once it is back, confirm auth and payments recover; they depend on it.",
    ],
    "connection_pool_exhaustion": [
        "Compare pool in-use against pool size and the number of waiters over the last hour.",
        "Find code paths that check out connections without returning them (recent deploys first).",
        "Recycling the pool frees leaked connections; fix the leak before it refills.",
    ],
    "memory_exhaustion": [
        "Check process memory against its limit and the growth rate since the last restart.",
        "Capture a heap profile before restarting, if the tooling allows.",
        "A restart buys time; the leak needs a fix or a rollback.",
    ],
    "disk_exhaustion": [
        "Find what fills the disk (cache, logs, uploads) and how fast.",
        "Clear or rotate the cache and logs; confirm free space recovers.",
        "Add retention limits so it cannot refill.",
    ],
    "traffic_overload": [
        "Compare request rate and latency with the usual daily pattern.",
        "Scale out the affected service if latency follows load.",
        "Check for a retry storm or abusive clients before scaling further.",
    ],
    "provider_outage": [
        "Check the external provider's status and the error it returns.",
        "Fail over to the standby provider if one is configured.",
        "Queue messages for redelivery once the provider recovers.",
    ],
    "provider_errors": [
        "Break down the errors by code (declines vs provider 5xx).",
        "Check the provider's status page and recent changes to the integration.",
        "Consider rolling back a recent deploy if the errors started with it.",
    ],
    "dependency_failure": [
        "Find the first failing dependency in the dependency map and fix it first.",
        "Hold back restarts of dependents until the dependency is healthy.",
    ],
    "unknown": [
        "Read the cited detections and log templates in time order.",
        "Check recent deploys and configuration changes.",
    ],
}

_HUMAN: dict[CauseCategory, str] = {
    "database_down": "database unreachable",
    "connection_pool_exhaustion": "connection pool exhaustion",
    "memory_exhaustion": "memory exhaustion",
    "disk_exhaustion": "disk filling up",
    "traffic_overload": "overload (latency rising with load)",
    "provider_outage": "external provider outage",
    "provider_errors": "errors at the external provider",
    "dependency_failure": "a failing dependency",
    "unknown": "unknown cause",
}


def _facts(incident: Incident, service: str) -> str:
    parts: list[str] = []
    for d in incident.detections:
        if d.service == service:
            parts.append(f"{d.series} {d.detection_kind} {d.reason}")
    for t in incident.log_templates:
        if t.service == service:
            parts.append(t.template)
    for m in incident.metric_values:
        if m.service == service:
            parts.append(m.series)
    return " ".join(parts)


def classify(incident: Incident) -> CauseCategory:
    """The cause category the evidence on the root service points to (first matching sign wins)."""
    text = _facts(incident, incident.service)
    for category, pattern in _SIGNS:
        if pattern.search(text):
            return category
    if len(incident.services) > 1:
        return "dependency_failure"
    return "unknown"


def _top(detections: list[Detection], service: str, n: int) -> list[Detection]:
    ranked = sorted(
        detections,
        key=lambda d: (d.service != service, -d.severity.rank, -d.score, d.timestamp, d.id),
    )
    out: list[Detection] = []
    seen: set[str] = set()
    for d in ranked:
        if d.series not in seen:
            out.append(d)
            seen.add(d.series)
        if len(out) == n:
            break
    return out


def _template_detail(template: LogTemplateSummary) -> str:
    """E.g. "12x ERROR 12:00:03-12:00:09 UTC: email delivery failed via <*>: ..." (the template last:
    it is the longest part, and the detail is cut at 500 characters)."""
    levels = sorted(template.levels, key=lambda level: -template.levels[level])
    span = f"{template.first_seen:%H:%M:%S}-{template.last_seen:%H:%M:%S} UTC"
    return " ".join([f"{template.count}x", *levels, f"{span}:", template.template])[:500]


class OfflineReporter:
    """Writes a :class:`ReportBody` from the incident's evidence, with no network."""

    def report(self, incident: Incident) -> ReportBody:
        category = classify(incident)
        service = incident.service
        top = _top(incident.detections, service, 4)
        evidence = [
            EvidenceItem(kind="detection", ref=d.id, detail=f"{d.service}: {d.reason}"[:500]) for d in top
        ]
        evidence += [
            EvidenceItem(kind="log_template", ref=t.template_id, detail=_template_detail(t))
            for t in incident.log_templates[:CITED_TEMPLATES]
        ]
        metric = next((m for m in reversed(incident.metric_values) if m.service == service), None)
        if metric is not None:
            expected = "" if metric.expected is None else f" (expected {metric.expected:.3g})"
            evidence.append(
                EvidenceItem(kind="metric", ref=metric.series, detail=f"{metric.value:.3g}{expected}")
            )
        others = [s for s in incident.services if s != service]
        impact = f"{service} is affected" + (f"; also {', '.join(others)}" if others else "") + "."
        worst = max(incident.detections, key=lambda d: (d.severity.rank, d.score), default=None)
        confidence = 0.3 if category == "unknown" else min(0.8, 0.4 + 0.1 * len(top))
        return ReportBody(
            title=f"{service}: {_HUMAN[category]}"[:160],
            impact=(impact + (f" Worst signal: {worst.reason}" if worst else ""))[:600],
            probable_cause=(
                f"Evidence on {service} points to {_HUMAN[category]}"
                + (f", which {', '.join(others)} depend on or show as symptoms." if others else ".")
            )[:600],
            cause_service=service,
            cause_category=category,
            evidence=evidence[:12],
            runbook=RUNBOOKS[category],
            confidence=confidence,
        )


__all__ = ["CITED_TEMPLATES", "RUNBOOKS", "OfflineReporter", "classify"]
