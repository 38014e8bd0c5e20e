"""A week of realistic state for report tests (and the README's rendered page): known numbers.

Services are probed every 5 minutes for 7 days. Known outages: payments down 30 min on day 2
(cost 50/min), database down 15 min on day 4 (20/min), email down 60 min on day 5 (2/min). Two
incidents carry LLM reports with recorded cost; actions include successes, a rollback and a denial;
forecasts predict DB pool exhaustion (prevented by a pool restart) and disk filling (not healed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from forewarn.events import ActionStatus, ForecastEvent
from forewarn.healing.audit import AuditLog
from forewarn.store.db import Store
from forewarn.store.records import Kind, parse_record
from tests.api.factories import action, probe

END = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
START = END - timedelta(days=7)
SERVICES = ("auth", "database", "email", "sms", "payments")
# (service, start, minutes): probes every 5 min, so each outage is minutes/5 failed probes.
OUTAGES = [
    ("payments", START + timedelta(days=1, hours=14), 30),
    ("database", START + timedelta(days=3, hours=9), 15),
    ("email", START + timedelta(days=4, hours=20), 60),
]
EXPECTED_COST = 30 * 50.0 + 15 * 20.0 + 60 * 2.0


def _down(service: str, at: datetime) -> bool:
    return any(s == service and begin <= at < begin + timedelta(minutes=m) for s, begin, m in OUTAGES)


def _report(title: str, cause: str, at: datetime, cost: float, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "title": title,
        "impact": "Customers could not complete checkout.",
        "probable_cause": cause,
        "cause_service": "payments",
        "cause_category": "provider_errors",
        "evidence": [{"kind": "detection", "ref": "d1", "detail": "5xx from provider"}],
        "runbook": ["Fail over to the backup provider"],
        "confidence": 0.7,
        "source": "llm",
        "model": "qwen2.5-0.5b-instruct",
        "generated_at": at.isoformat(),
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "cost_usd": cost,
    }


def _forecast(fields: dict[str, Any]) -> dict[str, Any]:
    """A forecasts-topic message with the figures the report reads set, the rest plain."""
    series = f"{fields['service']}/{fields['metric']}"
    stamp = datetime.fromisoformat(fields["timestamp"])
    point = fields["point"]
    return {
        "id": ForecastEvent.make_id(series, fields["horizon_seconds"], stamp),
        "series": series,
        "generated_at": fields["timestamp"],
        "current_value": point,
        "lower": point,
        "upper": point,
        "interval_level": 0.9,
        "confidence": 0.6,
        **fields,
    }


def seed(store: Store, audit_dir: Path | None = None) -> Path | None:
    probes = []
    at = START
    while at < END:
        for service in SERVICES:
            probes.append(probe(service, at, ok=not _down(service, at), latency_ms=40.0))
        at += timedelta(minutes=5)
    store.upsert(Kind.PROBE, [parse_record(Kind.PROBE, p) for p in probes])
    incidents = []
    for i, (service, begin, minutes) in enumerate(OUTAGES):
        item: dict[str, Any] = {
            "id": f"inc-{i}",
            "fingerprint": f"fp-{service}",
            "service": service,
            "services": [service],
            "status": "resolved",
            "severity": "critical",
            "opened_at": begin.isoformat(),
            "updated_at": (begin + timedelta(minutes=minutes)).isoformat(),
            "resolved_at": (begin + timedelta(minutes=minutes)).isoformat(),
        }
        if i < 2:
            item["report"] = _report(
                f"{service} outage <script>alert(1)</script>" if i == 0 else f"{service} outage",
                f"{service} failing",
                begin + timedelta(minutes=1),
                0.012 * (i + 1),
                (1500, 400),
            )
        incidents.append(item)
    store.upsert(Kind.INCIDENT, [parse_record(Kind.INCIDENT, x) for x in incidents])
    pool_at = START + timedelta(days=5, hours=3)
    disk_at = END - timedelta(hours=6)
    forecasts = [
        {
            "service": "database",
            "metric": "db_pool_in_use",
            "timestamp": pool_at.isoformat(),
            "horizon_seconds": 3600.0,
            "point": 19.0,
            "breach_probability": 0.8,
            "time_to_exhaustion_seconds": 1800.0,
            "time_to_exhaustion_lower": 1200.0,
            "time_to_exhaustion_upper": 2700.0,
            "model": "trend",
        },
        {
            "service": "database",
            "metric": "disk_used_ratio",
            "timestamp": disk_at.isoformat(),
            "horizon_seconds": 86400.0,
            "point": 0.97,
            "breach_probability": 0.6,
            "time_to_exhaustion_seconds": 30 * 3600.0,
            "time_to_exhaustion_lower": 20 * 3600.0,
            "time_to_exhaustion_upper": 44 * 3600.0,
            "model": "trend",
        },
        {
            "service": "auth",
            "metric": "memory_bytes",
            "timestamp": disk_at.isoformat(),
            "horizon_seconds": 3600.0,
            "point": 4e8,
            "breach_probability": 0.05,
            "time_to_exhaustion_seconds": 5 * 86400.0,
            "model": "trend",
        },
    ]
    store.upsert(Kind.FORECAST, [parse_record(Kind.FORECAST, _forecast(f)) for f in forecasts])
    actions: list[tuple[str, str, str, ActionStatus, datetime]] = [
        ("a1", "database", "restart_pool", "succeeded", pool_at + timedelta(minutes=5)),
        ("a2", "payments", "failover_payments", "succeeded", OUTAGES[0][1] + timedelta(minutes=10)),
        ("a3", "email", "failover_email", "rolled_back", OUTAGES[2][1] + timedelta(minutes=5)),
        ("a4", "email", "failover_email", "succeeded", OUTAGES[2][1] + timedelta(minutes=20)),
        ("a5", "auth", "scale_workers", "denied", START + timedelta(days=6)),
    ]
    store.upsert(
        Kind.ACTION,
        [
            parse_record(
                Kind.ACTION, {**action(i, s, t, status=st, name=a), "updated_at": None, "detail": "policy"}
            )
            for i, s, a, st, t in actions
        ],
    )
    if audit_dir is None:
        return None
    log = AuditLog(audit_dir / "audit.jsonl")
    for ident, service, name, status, when in actions:
        log.append(
            {
                "event": "attempt",
                "ts": when.isoformat(),
                "service": service,
                "action": name,
                "why": "policy",
                "outcome": "ok" if status == "succeeded" else status,
                "idempotency_key": ident,
            }
        )
    return log.path
