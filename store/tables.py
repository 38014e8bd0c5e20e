"""The store's tables: one per kind, the producer's JSON plus the columns the API filters on.

Why JSON plus indexed columns: producers' schemas evolve (incidents, actions and forecasts are
written by other components), and a migration for every new field would couple them to the API.
Times are epoch seconds (``REAL``/``DOUBLE``) so range filters behave the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text

from forewarn.store.records import Kind

metadata = MetaData()


def _common(name: str, *extra: Column[object]) -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(128), primary_key=True),
        Column("service", String(64), nullable=False),
        Column("ts", Float, nullable=False),  # event time, epoch seconds
        Column("updated", Float, nullable=False),  # last-writer-wins order for re-deliveries
        Column("payload", Text, nullable=False),
        *extra,
        Index(f"ix_{name}_service_ts", "service", "ts"),
        Index(f"ix_{name}_ts", "ts"),
    )


probes = _common(
    "probes",
    Column("ok", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
)
detections = _common(
    "detections",
    Column("series", String(256)),
    Column("detection_kind", String(64)),
    Column("severity", String(16)),
)
forecasts = _common(
    "forecasts",
    Column("metric", String(128)),
    Column("horizon_seconds", Float),
)
incidents = _common(
    "incidents",
    Column("status", String(32)),
    Column("severity", String(16)),
)
actions = _common(
    "actions",
    Column("status", String(32)),
    Column("action", String(128)),
    Column("incident_id", String(128)),
)
# What the sink last saw per topic: the API's meta-monitoring (age of last event, lag) reads it.
topic_state = Table(
    "topic_state",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("messages", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("last_offset", Integer),
    Column("last_event_ts", Float),
    Column("last_received_ts", Float),
)

# Operator requests (approve, deny, manual trigger) waiting for the one process that owns the healing
# executor (``forewarn respond``); not a kind of record: no producer topic, no retention purge.
control_requests = Table(
    "control_requests",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("verb", String(16), nullable=False),
    Column("target", String(128), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | applied | refused
    Column("result", Text),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_control_requests_status_created", "status", "created"),
)

TABLES: dict[Kind, Table] = {
    Kind.PROBE: probes,
    Kind.DETECTION: detections,
    Kind.FORECAST: forecasts,
    Kind.INCIDENT: incidents,
    Kind.ACTION: actions,
}
