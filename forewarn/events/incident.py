"""The incidents topic's schema: the one object a person (API, dashboard, report) and healing read.

Why in ``forewarn.events``: the responder produces it, the store and the API keep and serve it, the
responder reads it, the reporter fills ``report``. One schema, with no behaviour, that none of
them has to copy. ``IncidentReport`` is advisory by construction: it has no field that could name,
select or parameterise an action, and it forbids extra fields, so an LLM answer that tries to add one
(say ``"action": "restart all services"``) fails validation and is replaced by the offline report.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forewarn.events.base import SCHEMA_VERSION, Severity
from forewarn.events.detection import Detection
from forewarn.events.log_templates import LogTemplateSummary


class MetricValue(BaseModel):
    """A measured value behind a detection: what it was, what was expected, when."""

    model_config = ConfigDict(frozen=True)

    series: str  # e.g. "database/db_pool_in_use" or "payments/latency_ms"
    service: str
    value: float
    expected: float | None = None
    timestamp: datetime
    detection_id: str | None = None


EvidenceKind = Literal["detection", "log_template", "metric"]

# A closed vocabulary of causes, so a report can be scored against a labelled history and a small
# model's json_schema-constrained answer stays comparable. Free text goes in ``probable_cause``.
CauseCategory = Literal[
    "database_down",
    "connection_pool_exhaustion",
    "memory_exhaustion",
    "disk_exhaustion",
    "traffic_overload",
    "provider_outage",
    "provider_errors",
    "dependency_failure",
    "unknown",
]


class EvidenceItem(BaseModel):
    """One cited fact. ``ref`` must name something present in the incident (checked by the reporter)."""

    model_config = ConfigDict(extra="forbid")

    kind: EvidenceKind
    ref: str = Field(min_length=1, max_length=200)  # detection id, template id, or metric series
    detail: str = Field(default="", max_length=500)


class ReportBody(BaseModel):
    """What an LLM (or the offline reporter) writes. No field can carry an action: advisory only."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=160)
    impact: str = Field(min_length=3, max_length=600)
    probable_cause: str = Field(min_length=3, max_length=600)
    cause_service: str = Field(min_length=1, max_length=64)
    cause_category: CauseCategory
    evidence: list[EvidenceItem] = Field(min_length=1, max_length=12)
    runbook: list[str] = Field(min_length=1, max_length=8)
    confidence: float = Field(ge=0.0, le=1.0)


class IncidentReport(ReportBody):
    """A report as stored on the incident, with where it came from and what it cost."""

    source: Literal["llm", "offline"]
    model: str | None = None
    generated_at: datetime
    fallback_reason: str | None = None  # why the offline reporter wrote it (no LLM, budget, failure...)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_seconds: float = 0.0
    cached: bool = False


class Incident(BaseModel):
    """Detections of one problem (same service, close in time, or related by dependency), grouped."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["incident"] = "incident"
    id: str
    fingerprint: str
    service: str  # the probable root service (the one the others depend on)
    services: list[str]  # every service with a detection in this incident, sorted
    status: Literal["open", "resolved"] = "open"
    opened_at: datetime  # event time of the first detection
    updated_at: datetime  # event time of the latest detection
    resolved_at: datetime | None = None
    severity: Severity
    detections: list[Detection] = Field(default_factory=list)
    log_templates: list[LogTemplateSummary] = Field(default_factory=list)
    metric_values: list[MetricValue] = Field(default_factory=list)
    report: IncidentReport | None = None

    @staticmethod
    def make_fingerprint(service: str, detection_kind: str) -> str:
        """Same root service and same first symptom: the same kind of incident (for caching, dedup)."""
        return hashlib.sha256(f"{service}|{detection_kind}".encode()).hexdigest()[:16]

    @staticmethod
    def make_id(fingerprint: str, opened_at: datetime) -> str:
        return hashlib.sha256(f"{fingerprint}|{opened_at.isoformat()}".encode()).hexdigest()[:24]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()


__all__ = [
    "CauseCategory",
    "EvidenceItem",
    "EvidenceKind",
    "Incident",
    "IncidentReport",
    "MetricValue",
    "ReportBody",
]
