"""The store: idempotent upserts, last writer wins, filters, latest-per-series, retention."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from forewarn.store.db import Store, make_engine
from forewarn.store.records import Kind, RecordError, parse_record
from tests.api.factories import T0, action, detection, forecast, incident, probe

pytestmark = pytest.mark.unit


def _put(store: Store, kind: Kind, *payloads: dict[str, object]) -> None:
    store.upsert(kind, [parse_record(kind, p) for p in payloads])


def test_duplicate_detections_make_one_row(store: Store) -> None:
    first = detection("auth", T0)
    _put(store, Kind.DETECTION, first, first)
    _put(store, Kind.DETECTION, first)
    assert store.count(Kind.DETECTION) == 1
    assert store.get(Kind.DETECTION, str(first["id"])) == first


def test_probes_without_ids_get_stable_ones(store: Store) -> None:
    p = probe("database", T0, ok=False)
    _put(store, Kind.PROBE, p)
    _put(store, Kind.PROBE, dict(p))
    _put(store, Kind.PROBE, probe("database", T0 + timedelta(seconds=1)))
    assert store.count(Kind.PROBE) == 2
    samples = store.probe_samples(service="database")
    assert [ok for _, _, ok, _ in samples] == [False, True]


def test_incident_updates_win_only_when_newer(store: Store) -> None:
    opened = incident("inc-1", "payments", T0)
    resolved = incident("inc-1", "payments", T0, status="resolved", resolved=T0 + timedelta(minutes=9))
    _put(store, Kind.INCIDENT, opened, resolved)
    assert store.get(Kind.INCIDENT, "inc-1")["status"] == "resolved"  # type: ignore[index]
    _put(store, Kind.INCIDENT, opened)  # a late re-delivery of the older state
    assert store.get(Kind.INCIDENT, "inc-1")["status"] == "resolved"  # type: ignore[index]
    assert store.count(Kind.INCIDENT) == 1


def test_action_status_progresses(store: Store) -> None:
    _put(store, Kind.ACTION, action("a1", "database", T0, status="pending_approval"))
    _put(store, Kind.ACTION, action("a1", "database", T0 + timedelta(seconds=30), status="succeeded"))
    page = store.page(Kind.ACTION, filters={"status": "succeeded"})
    assert page.total == 1 and page.items[0]["id"] == "a1"
    assert store.page(Kind.ACTION, filters={"status": "pending_approval"}).total == 0


def test_filters_time_range_and_pagination(store: Store) -> None:
    _put(store, Kind.DETECTION, *(detection("auth", T0 + timedelta(minutes=i)) for i in range(10)))
    _put(store, Kind.DETECTION, detection("sms", T0))
    page = store.page(Kind.DETECTION, service="auth", since=T0 + timedelta(minutes=2), limit=3, offset=1)
    assert page.total == 8
    assert [d["timestamp"] for d in page.items] == [
        (T0 + timedelta(minutes=m)).isoformat().replace("+00:00", "Z") for m in (8, 7, 6)
    ]
    until = store.page(Kind.DETECTION, until=T0 + timedelta(minutes=1))
    assert {d["service"] for d in until.items} == {"auth", "sms"} and until.total == 2


def test_latest_forecast_per_series(store: Store) -> None:
    _put(
        store,
        Kind.FORECAST,
        forecast("database", "db_pool_in_use", T0, point=0.5),
        forecast("database", "db_pool_in_use", T0 + timedelta(minutes=1), point=0.6),
        forecast("database", "db_pool_in_use", T0 + timedelta(minutes=1), horizon=3600, point=0.9),
        forecast("auth", "memory_bytes", T0, point=1e8),
    )
    page = store.page(Kind.FORECAST, latest_per=("service", "metric", "horizon_seconds"))
    assert page.total == 3
    points = sorted(f["point"] for f in page.items)
    assert points == [0.6, 0.9, 1e8]
    assert store.distinct_series(Kind.FORECAST, "metric") == 2


def test_retention_purges_old_rows(tmp_path: object) -> None:
    now = [T0.timestamp() + 3 * 86400]
    store = Store(make_engine("sqlite://"), clock=lambda: now[0])
    _put(store, Kind.DETECTION, detection("auth", T0), detection("auth", T0 + timedelta(days=2, hours=12)))
    deleted = store.purge(retention_seconds=86400)
    assert deleted["detection"] == 1
    assert store.count(Kind.DETECTION) == 1


@pytest.mark.parametrize(
    ("kind", "raw", "fragment"),
    [
        (Kind.DETECTION, b"{not json", "not JSON"),
        (Kind.DETECTION, b"[1, 2]", "JSON object"),
        (Kind.DETECTION, b'{"service": "auth"}', "invalid detection"),
        (Kind.INCIDENT, b'{"service": "auth", "opened_at": "2026-01-01T00:00:00Z"}', "invalid incident: id"),
        (
            Kind.FORECAST,
            json.dumps({**forecast("a", "m", T0), "horizon_seconds": -1}).encode(),
            "invalid forecast: horizon_seconds",
        ),
        (Kind.PROBE, b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(kind: Kind, raw: bytes, fragment: str) -> None:
    with pytest.raises(RecordError, match=fragment):
        parse_record(kind, raw)


def test_wal_mode_on_file_databases(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
