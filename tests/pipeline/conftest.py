"""Fixtures and builders for the dataflow tests: telemetry messages with controlled times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import cluster_main, run_main

from forewarn.ingest import RawMessage

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The flow's clock in flow tests: after every event (inside the ingest window) and fixed, so
# detected_at and the lag metric are exact.
WALL = T0 + timedelta(minutes=30)
PROBES = "forewarn.probes"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def probe_doc(
    service: str, seconds: float, *, ok: bool = True, latency_ms: float = 100.0, status_code: int | None = 200
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "probe",
        "service": service,
        "endpoint": f"http://127.0.0.1:8080/api/health/{service}",
        "timestamp": at(seconds).isoformat(),
        "latency_ms": latency_ms,
        "status_code": status_code,
        "ok": ok,
        "status": "ok" if ok else "down",
    }


def probe_bytes(service: str, seconds: float, **kwargs: Any) -> bytes:
    return json.dumps(probe_doc(service, seconds, **kwargs)).encode()


def raw(value: bytes, offset: int = 0, topic: str = PROBES, key: bytes | None = None) -> RawMessage:
    return RawMessage(value=value, topic=topic, key=key, partition=0, offset=offset)


def run_one_worker(flow: Dataflow, **kwargs: Any) -> None:
    """bytewax.testing.run_main, typed (Bytewax's testing helpers carry no annotations)."""
    run_main(flow, **kwargs)  # type: ignore[no-untyped-call]


def run_two_workers(flow: Dataflow) -> None:
    """Two worker threads in this process: keys are spread over both, as in production."""
    cluster_main(flow, [], 0, worker_count_per_proc=2)  # type: ignore[no-untyped-call]


def recovery_config(db_dir: Path) -> RecoveryConfig:
    init_db_dir(db_dir, 1)  # type: ignore[no-untyped-call]
    return RecoveryConfig(str(db_dir))  # type: ignore[no-untyped-call]
