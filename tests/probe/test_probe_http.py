"""The probe runner over real HTTP: a uvicorn server on a free port, a refused port, real timeouts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from forewarn.collect.probe import ProbeRunner, make_client
from forewarn.events import ProbeResult
from forewarn.settings import ProbeSettings, ProbeTarget
from tests.probe.conftest import HealthServer

pytestmark = pytest.mark.integration


def probe_once(target: ProbeTarget, **settings: object) -> ProbeResult:
    async def go() -> ProbeResult:
        probe_settings = ProbeSettings.model_validate(settings)
        async with make_client(probe_settings.timeout_seconds) as client:
            return await ProbeRunner(probe_settings, client, targets=[target]).probe(target)

    return asyncio.run(go())


def test_healthy_endpoint(health_server: HealthServer) -> None:
    result = probe_once(ProbeTarget(service="database", url=f"{health_server.base_url}/health/ok"))
    assert result.ok and result.status == "ok" and result.status_code == 200
    assert result.attempts == 1 and result.error is None
    assert result.details["db_pool_in_use"] == 3
    assert result.details["memory"] == {"rss_bytes": 1234}
    assert result.details["checks"] == {"pool": "ok"}
    assert 0 < result.latency_ms < 2000


def test_503_is_reported_once_without_retry(health_server: HealthServer) -> None:
    result = probe_once(
        ProbeTarget(service="database", url=f"{health_server.base_url}/health/down"), retries=3
    )
    assert not result.ok and result.status == "down" and result.status_code == 503
    assert result.attempts == 1
    assert health_server.state.hits["down"] == 1
    assert result.details["db_pool_in_use"] == 20


@pytest.mark.parametrize(
    ("path", "part"), [("html", "not JSON"), ("array", "got list"), ("nowhere", "HTTP 404")]
)
def test_odd_answers_are_failed_results(health_server: HealthServer, path: str, part: str) -> None:
    """In json mode (forewarn's own health contract) a body that is not a JSON status fails."""
    url = f"{health_server.base_url}/health/{path}"
    result = probe_once(ProbeTarget(service="web", url=url, body="json"))
    assert not result.ok
    assert result.error is not None and part in result.error


def test_timeout_is_retried_then_reported(health_server: HealthServer) -> None:
    health_server.state.hang_seconds = 3.0
    result = probe_once(
        ProbeTarget(service="web", url=f"{health_server.base_url}/health/slow"),
        timeout_seconds=0.3,
        retries=1,
        retry_backoff_seconds=0.05,
    )
    assert not result.ok and result.status == "error" and result.status_code is None
    assert result.attempts == 2
    assert result.error == "timeout after 0.3s"
    assert health_server.state.hits["slow"] == 2
    assert 550 <= result.latency_ms < 2000  # two attempts of ~300 ms each


def test_flaky_endpoint_recovers_on_retry_and_says_so(health_server: HealthServer) -> None:
    health_server.state.slow_first = 1
    health_server.state.hang_seconds = 3.0
    result = probe_once(
        ProbeTarget(service="web", url=f"{health_server.base_url}/health/flaky"),
        timeout_seconds=0.3,
        retries=2,
        retry_backoff_seconds=0.0,
    )
    assert result.ok and result.status_code == 200
    assert result.attempts == 2
    assert result.details["probe_retried"] is True
    assert result.error is not None and "timeout" in result.error
    assert result.details["recovered"] is True


def test_connection_refused(closed_port: int) -> None:
    result = probe_once(
        ProbeTarget(service="web", url=f"http://127.0.0.1:{closed_port}/api/health/web"),
        retries=1,
        retry_backoff_seconds=0.0,
    )
    assert not result.ok and result.status_code is None and result.attempts == 2
    assert result.error is not None and "ConnectError" in result.error


def test_a_round_mixes_results_without_one_failure_spoiling_others(
    health_server: HealthServer, closed_port: int
) -> None:
    base = health_server.base_url
    targets = [
        ProbeTarget(service="ok", url=f"{base}/health/ok"),
        ProbeTarget(service="degraded", url=f"{base}/health/degraded"),
        ProbeTarget(service="down", url=f"{base}/health/down"),
        ProbeTarget(service="html", url=f"{base}/health/html", body="json"),
        ProbeTarget(service="refused", url=f"http://127.0.0.1:{closed_port}/h"),
    ]

    async def go() -> list[ProbeResult]:
        settings = ProbeSettings(retries=0, timeout_seconds=2.0)
        async with httpx.AsyncClient() as client:
            return await ProbeRunner(settings, client, targets=targets).run_round()

    results = {r.service: r for r in asyncio.run(go())}
    assert {s: r.ok for s, r in results.items()} == {
        "ok": True,
        "degraded": True,
        "down": False,
        "html": False,
        "refused": False,
    }
    assert results["degraded"].status == "degraded"
