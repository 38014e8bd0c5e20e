"""What a receiver made of one pushed request: the events to publish and what it dropped, by reason.

Why a module of its own: the three receivers (Prometheus remote_write, OTLP, Alertmanager) each
turn a foreign shape into forewarn's events, and they share how names become forewarn's tame
``Name``s and how a sample that cannot be used is counted instead of failing the whole request
(one stale marker in a batch of 500 must not make Prometheus resend all 500).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from forewarn.events import Detection, MetricSample

__all__ = ["Converted", "NameFilter", "pick_service", "tame"]

_UNTAME = re.compile(r"[^A-Za-z0-9_.\-]")
MAX_NAME = 64


@dataclass
class Converted:
    """Events ready for Kafka, and the count of samples or alerts dropped per reason."""

    events: list[MetricSample | Detection] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count


def tame(raw: str) -> str | None:
    """``raw`` as a forewarn name: characters outside ``[A-Za-z0-9_.-]`` become ``_``.

    None when empty or longer than 64 characters: cutting it could merge two series into one.
    ``job:http_requests:rate5m`` (a recording rule) becomes ``job_http_requests_rate5m``.
    """
    name = _UNTAME.sub("_", raw)
    return name if 0 < len(name) <= MAX_NAME else None


def pick_service(labels: Mapping[str, str], candidates: Iterable[str], default: str) -> str | None:
    """The tamed value of the first label in ``candidates`` that ``labels`` has, else ``default``."""
    for label in candidates:
        value = labels.get(label)
        if value:
            return tame(value)
    return default


class NameFilter:
    """Keeps metric names that fully match one of ``patterns``; keeps everything when there are none."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [re.compile(p) for p in patterns]

    def __call__(self, name: str) -> bool:
        return not self.patterns or any(p.fullmatch(name) for p in self.patterns)
