"""The watchdog's checks as plain functions: what is wrong, from numbers already fetched.

Why apart from the fetching: the rules (how old is too old, how far behind is too far) are tested
on numbers; the HTTP and Kafka reads that produce them (``probes.py``) are tested on real processes.
Each check yields a :class:`Finding` for one subject, healthy or not, so the alerter can both fire
and resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["HEARTBEAT_METRIC", "Finding", "event_age", "heartbeat", "heartbeats_in", "lag"]

HEARTBEAT_METRIC = "forewarn_heartbeat_timestamp_seconds"


@dataclass(frozen=True)
class Finding:
    """One subject's state: ``key`` names it (the alert's dedup key), ``ok`` says if it is healthy."""

    key: str
    ok: bool
    summary: str


def heartbeats_in(metrics_text: str) -> dict[str, float]:
    """``component -> last heartbeat (epoch seconds)`` from a Prometheus text exposition."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == HEARTBEAT_METRIC:
                out[sample.labels.get("component", family.name)] = float(sample.value)
    return out


def heartbeat(
    component: str, beats: Mapping[str, float] | None, now: float, max_age: float, error: str = ""
) -> Finding:
    """Unreachable ``/metrics``, no heartbeat, or one older than ``max_age``: not ok."""
    key = f"heartbeat/{component}"
    if beats is None:
        return Finding(key, False, f"{component}: /metrics does not answer ({error or 'no answer'})")
    if not beats:
        return Finding(key, False, f"{component}: no {HEARTBEAT_METRIC} on its /metrics")
    age = now - max(beats.values())
    if age > max_age:
        return Finding(key, False, f"{component}: last heartbeat {age:.0f} s ago (max {max_age:.0f} s)")
    return Finding(key, True, f"{component}: heartbeat {age:.1f} s ago")


def lag(group: str, behind: Mapping[str, int] | None, max_lag: int, error: str = "") -> Finding:
    """``behind``: messages not yet committed, per topic (None: Kafka could not be asked)."""
    key = f"lag/{group}"
    if behind is None:
        return Finding(key, False, f"consumer group {group}: lag unknown ({error or 'Kafka unreachable'})")
    total = sum(behind.values())
    worst = ", ".join(f"{t} {n}" for t, n in sorted(behind.items(), key=lambda kv: -kv[1]) if n)
    if total > max_lag:
        return Finding(
            key, False, f"consumer group {group}: {total} messages behind ({worst}; max {max_lag})"
        )
    return Finding(key, True, f"consumer group {group}: {total} messages behind")


def event_age(topic: str, newest: float | None, now: float, max_age: float, error: str = "") -> Finding:
    """``newest``: the newest message's timestamp (epoch seconds) on ``topic``; None: none or unknown."""
    key = f"events/{topic}"
    if newest is None:
        return Finding(key, False, f"{topic}: no event ({error or 'the topic is empty'})")
    age = now - newest
    if age > max_age:
        return Finding(key, False, f"{topic}: newest event {age:.0f} s old (max {max_age:.0f} s)")
    return Finding(key, True, f"{topic}: newest event {age:.1f} s old")


def failing(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]
