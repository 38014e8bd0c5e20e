"""The log-templates topic's schema: what the dataflow's drain3 miner saw a service write, and how often.

Why a topic of its own (and not a field on detections): the responder only hears of a service's log
lines through this; most incidents open on a probe or metric detection, keyed by series on another
path of the dataflow, which never sees a log line, and the log path's own detections often do not
fire at all (a fault healed within seconds writes a handful of error lines, below every threshold).
So the dataflow publishes, per service, a compact digest of the templates seen in each short period,
and the responder attaches the digests overlapping an incident to it (``Incident.log_templates``).

Bounded by construction: at most :data:`MAX_DIGEST_TEMPLATES` templates (most severe, then most
frequent, first), each template at most :data:`MAX_TEMPLATE_CHARS` characters. Template text is
redacted before mining, so no digest can carry a secret.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forewarn.events.base import Name, TopicMessage

MAX_DIGEST_TEMPLATES = 10
MAX_TEMPLATE_CHARS = 1000


class LogTemplateSummary(BaseModel):
    """One drain3 log template: how often, at which levels, first and last seen.

    In a digest ``count`` is the lines of the digest's period; on an incident it is the sum over the
    digests the incident covers (first/last seen: the earliest and the latest of them).
    """

    model_config = ConfigDict(frozen=True)

    template_id: str  # "<service>:<drain cluster id>", stable for the miner's state
    service: str
    template: str = Field(max_length=MAX_TEMPLATE_CHARS)  # redacted, variables masked as <*> / <NUM> / ...
    count: int = Field(ge=0)
    levels: dict[str, int] = Field(default_factory=dict)
    first_seen: datetime
    last_seen: datetime
    new: bool = False  # first seen after the miner's warm-up: a brand-new kind of line


class LogTemplateDigest(TopicMessage):
    """The templates one service wrote in ``[window_start, window_end]`` (event time), top N only.

    ``id`` is derived from the service and the period, so a re-delivered digest is recognised and
    never counted twice. ``lines`` counts every line of the period, including templates left out.
    """

    kind: Literal["log_templates"] = "log_templates"
    id: str
    service: Name
    window_start: datetime
    window_end: datetime
    lines: int = Field(ge=0)
    templates: list[LogTemplateSummary] = Field(max_length=MAX_DIGEST_TEMPLATES)

    @staticmethod
    def make_id(service: str, window_start: datetime, window_end: datetime) -> str:
        raw = f"{service}|{window_start.isoformat()}|{window_end.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


__all__ = ["MAX_DIGEST_TEMPLATES", "MAX_TEMPLATE_CHARS", "LogTemplateDigest", "LogTemplateSummary"]
