"""One thing a human should know: what happened, what we did, and what they should do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Notification:
    title: str
    summary: str
    service: str
    severity: str  # info | warning | critical
    group_key: str  # notifications of one incident are grouped under this
    issue_class: str = "unknown"
    level: int = 0  # escalation ladder step
    actions: list[dict[str, Any]] = field(default_factory=list)  # what the executor did
    details: dict[str, Any] = field(default_factory=dict)
    report: str = ""  # the incident report (LLM-written, advisory), if any
    created_at: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)  # the trigger's labels (routes match on them)

    @property
    def dedup_key(self) -> str:
        return f"{self.group_key}|{self.level}|{self.title}|{self.summary}"
