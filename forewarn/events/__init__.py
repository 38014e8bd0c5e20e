"""Versioned event schemas, one per topic: the contract between forewarn's producers and consumers.

Every event is a JSON object with ``schema_version`` and ``kind``. Outside producers (a script,
kcat, another service) can feed the input topics as long as they follow these models; the README
documents them field by field. forewarn's own components (pipeline, responder, store,
API) all read and write these classes: none keeps a copy of another's fields. One module per topic
family; everything is re-exported here, so ``from forewarn.events import X`` is the way in.
"""

from __future__ import annotations

from forewarn.events.action import NO_ACTION, ActionEvent, ActionStatus, DecisionStatus
from forewarn.events.base import SCHEMA_VERSION, Details, Name, Scalar, Severity, TopicMessage, finite
from forewarn.events.detection import (
    ALERT_DETECTOR,
    ALERT_FIRING,
    ALERT_RESOLVED,
    Detection,
    ForecastEvent,
    ForecastFigures,
)
from forewarn.events.incident import (
    CauseCategory,
    EvidenceItem,
    EvidenceKind,
    Incident,
    IncidentReport,
    MetricValue,
    ReportBody,
)
from forewarn.events.log_templates import (
    MAX_DIGEST_TEMPLATES,
    MAX_TEMPLATE_CHARS,
    LogTemplateDigest,
    LogTemplateSummary,
)
from forewarn.events.telemetry import (
    DeadLetter,
    InputEvent,
    LogLevel,
    LogRecord,
    MetricSample,
    ProbeResult,
    TelemetryEvent,
)

__all__ = [
    "ALERT_DETECTOR",
    "ALERT_FIRING",
    "ALERT_RESOLVED",
    "MAX_DIGEST_TEMPLATES",
    "MAX_TEMPLATE_CHARS",
    "NO_ACTION",
    "SCHEMA_VERSION",
    "ActionEvent",
    "ActionStatus",
    "CauseCategory",
    "DeadLetter",
    "DecisionStatus",
    "Details",
    "Detection",
    "EvidenceItem",
    "EvidenceKind",
    "ForecastEvent",
    "ForecastFigures",
    "Incident",
    "IncidentReport",
    "InputEvent",
    "LogLevel",
    "LogRecord",
    "LogTemplateDigest",
    "LogTemplateSummary",
    "MetricSample",
    "MetricValue",
    "Name",
    "ProbeResult",
    "ReportBody",
    "Scalar",
    "Severity",
    "TelemetryEvent",
    "TopicMessage",
    "finite",
]
