"""Unit tests of the probe runner: health bodies, the retry rule, jitter and the round loop.

HTTP goes through ``httpx.MockTransport`` and time through a fake clock, so each rule is checked
exactly; ``test_probe_http.py`` checks the same behaviour over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from forewarn.collect.probe import ProbeRunner, jittered_interval, read_health
from forewarn.events import ProbeResult
from forewarn.ingest import RawMessage, parse_message
from forewarn.settings import IngestSettings, ProbeSettings, ProbeTarget
from tests.probe.fakes import ListPublisher

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)


class FakeTime:
    """A clock that only moves when the code under test sleeps or a handler 'takes time'."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def runner_for(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: FakeTime,
    *,
    retries: int = 2,
    targets: list[ProbeTarget] | None = None,
    publisher: ListPublisher | None = None,
    **settings: object,
) -> ProbeRunner:
    probe_settings = ProbeSettings(
        retries=retries, retry_backoff_seconds=0.5, timeout_seconds=2.0, **settings
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ProbeRunner(
        probe_settings,
        client,
        publisher,
        "probes",
        targets=targets or [ProbeTarget(service="auth", url="http://svc/api/health/auth")],
        now=clock.now,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        rng=random.Random(7),
    )


# -- reading health bodies ------------------------------------------------------------------------


def test_healthy_body_is_ok_with_details_checks_and_reported_latency() -> None:
    body = {
        "status": "ok",
        "latency_ms": 4.2,
        "checks": [{"name": "pool", "status": "ok"}, {"name": "query", "status": "degraded"}],
        "details": {"db_pool_in_use": 3, "db_pool_size": 20, "provider": "smtp-a"},
    }
    reading = read_health(200, json.dumps(body).encode())
    assert reading.ok and reading.status == "ok" and reading.error is None
    assert reading.details["db_pool_in_use"] == 3
    assert reading.details["provider"] == "smtp-a"
    assert reading.details["checks"] == {"pool": "ok", "query": "degraded"}
    assert reading.details["reported_latency_ms"] == 4.2


@pytest.mark.parametrize(
    ("code", "body", "ok", "status", "error_part"),
    [
        (200, {"status": "degraded"}, True, "degraded", None),
        (200, {"status": "UP"}, True, "ok", None),
        (200, {"status": "warn"}, True, "degraded", None),
        (200, {"status": "down"}, False, "down", "health status down"),
        (503, {"status": "down"}, False, "down", "HTTP 503"),
        (
            503,
            {"status": "down", "checks": [{"name": "db", "status": "down"}]},
            False,
            "down",
            "failing checks: db",
        ),
        (500, {"status": "ok"}, False, "ok", "HTTP 500"),
        (200, {"status": "purple"}, False, "error", "unknown status 'purple'"),
        (200, {"healthy": True}, False, "error", "no status field"),
        (200, {"status": 1}, False, "error", "unknown status"),
    ],
)
def test_status_grading(
    code: int, body: dict[str, object], ok: bool, status: str, error_part: str | None
) -> None:
    reading = read_health(code, json.dumps(body).encode())
    assert (reading.ok, reading.status) == (ok, status)
    if error_part is None:
        assert reading.error is None
    else:
        assert reading.error is not None and error_part in reading.error


@pytest.mark.parametrize(
    ("body", "error_part"),
    [
        (b"<html>down for maintenance</html>", "body is not JSON"),
        (b"", "body is not JSON"),
        (b"\xff\xfe\x00garbage", "body is not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"ok"', "expected a JSON object, got str"),
        (b"null", "expected a JSON object, got NoneType"),
    ],
)
def test_unexpected_bodies_fail_with_a_reason(body: bytes, error_part: str) -> None:
    reading = read_health(200, body)
    assert not reading.ok
    assert reading.status == "error"
    assert reading.error is not None and error_part in reading.error


def test_awkward_details_are_reshaped_not_rejected() -> None:
    body = (
        b'{"status": "ok", "details": {"nested": {"a": {"b": 1}}, "objs": [{"x": 1}],'
        b' "nan": NaN, "bad\\udcff": "\\ud800"}}'
    )
    reading = read_health(200, body)
    assert reading.ok
    assert reading.details["nested"] == {"a.b": 1}
    assert reading.details["objs"] == '[{"x": 1}]'
    assert reading.details["nan"] is None
    # and the result is a valid event that survives the ingest path
    event = ProbeResult(
        service="auth", endpoint="http://x", timestamp=START, latency_ms=1, ok=True, details=reading.details
    )
    parsed = parse_message(RawMessage(event.to_json_bytes()), IngestSettings(), now=START)
    assert parsed == event


# -- the retry rule -------------------------------------------------------------------------------


def test_http_error_answers_are_not_retried() -> None:
    clock = FakeTime()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        clock.t += 0.030
        return httpx.Response(503, json={"status": "down", "details": {"db_pool_in_use": 20}})

    result = asyncio.run(runner_for(handler, clock).probe(ProbeTarget(service="db", url="http://svc/h")))
    assert len(calls) == 1
    assert result.attempts == 1
    assert not result.ok and result.status == "down" and result.status_code == 503
    assert result.latency_ms == pytest.approx(30.0)
    assert result.details["db_pool_in_use"] == 20


def test_no_answer_is_retried_and_every_attempt_is_recorded() -> None:
    clock = FakeTime()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        clock.t += 0.1
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = asyncio.run(
        runner_for(handler, clock, retries=2).probe(ProbeTarget(service="db", url="http://svc/h"))
    )
    assert calls == 3
    assert result.attempts == 3
    assert not result.ok
    assert result.status == "error" and result.status_code is None
    assert result.error is not None and "Connection refused" in result.error
    # latency is the time spent in attempts (3 x 100 ms), not the backoff sleeps between them
    assert result.latency_ms == pytest.approx(300.0)
    assert clock.sleeps == [0.5, 0.5]
    assert result.timestamp == START


def test_success_after_retry_is_flagged_not_hidden() -> None:
    clock = FakeTime()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        clock.t += 0.2
        if calls == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"status": "ok", "details": {"db_pool_in_use": 2}})

    result = asyncio.run(runner_for(handler, clock).probe(ProbeTarget(service="db", url="http://svc/h")))
    assert result.ok and result.status == "ok"
    assert result.attempts == 2
    assert result.error is not None and "timeout" in result.error
    assert result.details["probe_retried"] is True
    assert "timeout" in str(result.details["probe_first_error"])
    assert result.details["db_pool_in_use"] == 2
    assert result.latency_ms == pytest.approx(400.0)


def test_retries_zero_means_one_attempt() -> None:
    clock = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    result = asyncio.run(
        runner_for(handler, clock, retries=0).probe(ProbeTarget(service="db", url="http://svc/h"))
    )
    assert result.attempts == 1 and not result.ok
    assert clock.sleeps == []


def test_unexpected_client_exception_is_a_failed_probe_not_a_crash() -> None:
    clock = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("transport exploded")

    result = asyncio.run(
        runner_for(handler, clock, retries=0).probe(ProbeTarget(service="db", url="http://svc/h"))
    )
    assert not result.ok
    assert result.error is not None and "transport exploded" in result.error


@pytest.mark.parametrize(
    ("service", "url", "part"),
    [
        ("has space", "http://x/h", "bad probe target 'has space'"),
        ("auth", "localhost:8080/api/health/auth", "needs http:// or https://"),
        ("auth", "ftp://host/h", "needs http:// or https://"),
        ("auth", "http:///nohost", "needs http:// or https://"),
    ],
)
def test_bad_target_fails_at_start_not_mid_stream(service: str, url: str, part: str) -> None:
    with pytest.raises(ValueError, match=part):
        runner_for(lambda r: httpx.Response(200), FakeTime(), targets=[ProbeTarget(service=service, url=url)])


# -- jitter and the round loop --------------------------------------------------------------------


def test_jitter_stays_within_bounds_and_actually_varies() -> None:
    rng = random.Random(1)
    delays = [jittered_interval(120.0, 0.1, rng) for _ in range(2000)]
    assert min(delays) >= 108.0 and max(delays) <= 132.0
    assert max(delays) - min(delays) > 20.0  # it spreads over most of the band
    assert jittered_interval(5.0, 0.0, rng) == 5.0


def test_rounds_probe_all_targets_publish_keyed_by_service_and_keep_the_interval() -> None:
    clock = FakeTime()
    targets = [ProbeTarget(service=s, url=f"http://svc/api/health/{s}") for s in ("auth", "database", "sms")]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("sms"):
            return httpx.Response(503, json={"status": "down"})
        return httpx.Response(200, json={"status": "ok"})

    publisher = ListPublisher()
    runner = runner_for(
        handler, clock, targets=targets, publisher=publisher, interval_seconds=10.0, jitter_fraction=0.2
    )
    rounds = asyncio.run(runner.run(max_rounds=3))
    assert rounds == 3
    assert len(publisher.messages) == 9
    assert publisher.flushes == 3
    assert {key for _, key, _ in publisher.messages} == {"auth", "database", "sms"}
    assert all(topic == "probes" for topic, _, _ in publisher.messages)
    for _, key, value in publisher.messages:
        event = parse_message(RawMessage(value, key=key.encode()), IngestSettings(), now=clock.now())
        assert isinstance(event, ProbeResult)
        assert event.service == key
        assert event.ok is (key != "sms")
    assert len(clock.sleeps) == 2  # no sleep after the last round
    assert all(8.0 <= s <= 12.0 for s in clock.sleeps)


def test_concurrency_is_bounded() -> None:
    clock = FakeTime()
    active = 0
    peak = 0

    async def slow_handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return httpx.Response(200, json={"status": "ok"})

    targets = [ProbeTarget(service=f"s{i}", url=f"http://svc/{i}") for i in range(12)]
    client = httpx.AsyncClient(transport=httpx.MockTransport(slow_handler))
    runner = ProbeRunner(
        ProbeSettings(), client, targets=targets, max_concurrency=3, now=clock.now, monotonic=clock.monotonic
    )
    results = asyncio.run(runner.run_round())
    assert len(results) == 12 and all(r.ok for r in results)
    assert peak == 3


def test_stop_event_ends_the_loop_during_the_pause() -> None:
    clock = FakeTime()

    async def scenario() -> int:
        stop = asyncio.Event()

        async def real_sleep(seconds: float) -> None:
            await asyncio.sleep(3600)  # would hang forever if stop did not interrupt it

        runner = runner_for(lambda r: httpx.Response(200, json={"status": "ok"}), clock)
        runner.sleep = real_sleep
        task = asyncio.create_task(runner.run(stop=stop))
        await asyncio.sleep(0.05)
        stop.set()
        return await asyncio.wait_for(task, timeout=5)

    assert asyncio.run(scenario()) == 1


def test_a_slow_publisher_does_not_delay_probing() -> None:
    """A reconnect to a dead broker blocks publish for seconds; rounds must keep their rhythm."""
    import threading
    import time

    release = threading.Event()

    class BlockingPublisher(ListPublisher):
        def publish(self, topic: str, key: str, value: bytes) -> None:
            release.wait(timeout=10)
            super().publish(topic, key, value)

    publisher = BlockingPublisher()
    clock = FakeTime()
    runner = runner_for(lambda r: httpx.Response(200, json={"status": "ok"}), clock, publisher=publisher)

    async def scenario() -> tuple[float, int]:
        started = time.monotonic()
        for _ in range(3):
            await runner.run_round()
        spent = time.monotonic() - started
        published_before_release = len(publisher.messages)
        release.set()
        await runner.drain()
        return spent, published_before_release

    spent, early = asyncio.run(scenario())
    assert spent < 2.0  # three rounds ran while the publisher was stuck
    assert early == 0
    assert [json.loads(v)["service"] for _, _, v in publisher.messages] == ["auth"] * 3
