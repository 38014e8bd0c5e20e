"""Synthetic probes of health endpoints, published as ``ProbeResult`` events.

Why synthetic probes: logs and metrics say what a service noticed; a probe says what a user would
see. Each round probes every target concurrently (bounded), then the runner sleeps for the interval
with jitter, so a fleet of probers does not hit the service in lock-step.

Reading a health answer (``read_health``):
- A JSON object with a ``status`` is graded by it: ``ok`` needs HTTP 2xx *and* a healthy or degraded
  status. Degraded counts as passing, as in the IETF health-check draft's ``warn``: the service
  answers, slowly or with concerns; latency and ``details`` carry that signal. A 2xx saying ``down``
  fails.
- Without one, a target in ``auto`` mode (the default for configured targets) is graded by the HTTP
  code alone, so a plain ``200 OK`` from ``/healthz`` is healthy and a 503 is down. A target in
  ``json`` mode (forewarn's own health contract) calls that an error instead.
- Anything unexpected (in ``json`` mode: not JSON, not an object, no status; in any mode: an unknown
  ``status`` word, a huge body) yields ``ok=False``, ``status="error"`` and an ``error`` saying what
  was wrong: never a crash.
- Headers, a bearer token, a CA bundle and a client certificate are per target (``ProbeTarget``).

Retry rule (retries must not hide failures):
- Only attempts that got *no HTTP answer* (timeout, refused connection, reset) are retried, up to
  ``retries`` more times with ``retry_backoff_seconds`` between them. An HTTP answer, even a 503, is
  the service speaking and is published as it is.
- The published result says what happened: ``attempts`` counts every try, ``latency_ms`` is the sum
  of all attempts' durations (the time the service made us wait, backoff excluded), and ``error``
  holds the first failure's error even when a retry then succeeded. Such a success also carries
  ``details["probe_retried"] = True`` and ``details["probe_first_error"]``, so a detector can count
  flaky answers as well as hard failures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import ValidationError

from forewarn.collect.details import coerce_details
from forewarn.events import Details, ProbeResult
from forewarn.kafka.publisher import Publisher
from forewarn.settings import ProbeSettings, ProbeTarget

if TYPE_CHECKING:
    from forewarn.metrics import ProbeMetrics

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_ERROR_CHARS = 500

HealthStatus = Literal["ok", "degraded", "down", "error"]

# Health vocabularies seen in the wild (Spring "UP", IETF draft "pass/warn/fail", traffic lights).
_STATUS_WORDS: dict[str, HealthStatus] = {
    "ok": "ok",
    "healthy": "ok",
    "up": "ok",
    "pass": "ok",
    "passing": "ok",
    "green": "ok",
    "degraded": "degraded",
    "warn": "degraded",
    "warning": "degraded",
    "yellow": "degraded",
    "down": "down",
    "unhealthy": "down",
    "fail": "down",
    "failing": "down",
    "critical": "down",
    "red": "down",
    "out_of_service": "down",
    "error": "error",
}

Now = Callable[[], datetime]
Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class HealthReading:
    """What one HTTP answer says about the endpoint."""

    ok: bool
    status: HealthStatus | None
    error: str | None
    details: Details = field(default_factory=dict)


def read_health(status_code: int, body: bytes, mode: Literal["auto", "json"] = "json") -> HealthReading:
    """Grade one HTTP answer of a health endpoint; never raises.

    >>> read_health(200, b'{"status": "ok", "details": {"pool_in_use": 3}}')
    HealthReading(ok=True, status='ok', error=None, details={'pool_in_use': 3})
    >>> read_health(200, b'<html>maintenance</html>').error
    'body is not JSON (24 bytes): <html>maintenance</html>'
    >>> read_health(200, b'OK', mode="auto")
    HealthReading(ok=True, status='ok', error=None, details={})
    >>> read_health(503, b'Service Unavailable', mode="auto").error
    'HTTP 503: Service Unavailable'
    """
    http_ok = 200 <= status_code < 300
    prefix = "" if http_ok else f"HTTP {status_code}: "
    try:
        document: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        if mode == "auto":
            return _by_http_code(status_code, body, {})
        return HealthReading(
            ok=False,
            status="error",
            error=f"{prefix}body is not JSON ({len(body)} bytes): {_snippet(body)}",
        )
    if not isinstance(document, dict):
        if mode == "auto":
            return _by_http_code(status_code, body, {})
        return HealthReading(
            ok=False,
            status="error",
            error=f"{prefix}expected a JSON object, got {type(document).__name__}",
        )
    details = _details_of(document)
    raw_status = document.get("status")
    if raw_status is None and mode == "auto":
        return _by_http_code(status_code, body, details)
    status = _STATUS_WORDS.get(raw_status.strip().lower()) if isinstance(raw_status, str) else None
    if status is None:
        shown = "no status field" if raw_status is None else f"unknown status {str(raw_status)[:80]!r}"
        return HealthReading(
            ok=False, status="error", error=f"{prefix}{shown} in health body", details=details
        )
    if not http_ok:
        return HealthReading(
            ok=False,
            status=status,
            error=f"HTTP {status_code} (body status {status}{_failing(details)})",
            details=details,
        )
    if status in ("down", "error"):
        return HealthReading(
            ok=False, status=status, error=f"health status {status}{_failing(details)}", details=details
        )
    return HealthReading(ok=True, status=status, error=None, details=details)


def _by_http_code(status_code: int, body: bytes, details: Details) -> HealthReading:
    """A body that says nothing about health: the HTTP code is the answer."""
    if 200 <= status_code < 300:
        return HealthReading(ok=True, status="ok", error=None, details=details)
    shown = f": {_snippet(body)}" if body.strip() else ""
    return HealthReading(ok=False, status="down", error=f"HTTP {status_code}{shown}", details=details)


def _details_of(document: dict[str, Any]) -> Details:
    details = document.get("details")
    result = coerce_details(details) if isinstance(details, dict) else {}
    checks = document.get("checks")
    if isinstance(checks, list):
        # [{"name": "db_connect", "status": "ok", ...}, ...] -> {"db_connect": "ok", ...}
        checks = {
            str(c["name"]): c.get("status")
            for c in checks
            if isinstance(c, dict) and isinstance(c.get("name"), str)
        }
    if isinstance(checks, dict) and checks and "checks" not in result:
        # Which sub-check failed is the first thing an operator asks; keep it next to the details.
        result.update(coerce_details({"checks": checks}, max_keys=1))
    reported = document.get("latency_ms")
    if (
        isinstance(reported, int | float)
        and not isinstance(reported, bool)
        and "reported_latency_ms" not in result
    ):
        result.update(coerce_details({"reported_latency_ms": reported}))
    return result


def _failing(details: Details) -> str:
    """Name the sub-checks that are not ok, so the error alone says where to look."""
    checks = details.get("checks")
    if not isinstance(checks, dict):
        return ""
    bad = [name for name, state in checks.items() if state not in ("ok", None)]
    return f"; failing checks: {', '.join(bad[:5])}" if bad else ""


def _snippet(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", errors="replace").replace("\n", " ").strip()
    return text + ("..." if len(body) > limit else "")


class _NoAnswer(Exception):
    """An attempt that got no HTTP answer: the only kind that is retried."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status_code: int
    body: bytes


def jittered_interval(interval: float, jitter_fraction: float, rng: random.Random) -> float:
    """The pause before the next round: ``interval`` ± ``jitter_fraction`` of it, never below 0."""
    spread = interval * jitter_fraction
    return max(0.0, interval + rng.uniform(-spread, spread))


class ProbeRunner:
    """Probes every target each round and publishes one ``ProbeResult`` per target.

    The HTTP client, the clocks, the sleep function and the random source are injected, so tests
    drive time and faults; ``publisher=None`` only returns results (``forewarn probe --no-kafka``).
    ``metrics`` (the shared ``forewarn.metrics.probe_metrics`` families) sees every result, so the
    prober's own ``/metrics`` shows what it saw even while Kafka is away.
    """

    def __init__(
        self,
        settings: ProbeSettings,
        client: httpx.AsyncClient,
        publisher: Publisher | None = None,
        topic: str = "forewarn.probes",
        *,
        targets: Sequence[ProbeTarget] | None = None,
        max_concurrency: int = 16,
        now: Now = utc_now,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        metrics: ProbeMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.client = client
        self.publisher = publisher
        self.topic = topic
        self.targets = list(settings.resolved_targets() if targets is None else targets)
        self.max_concurrency = max(1, max_concurrency)
        self.now = now
        self.monotonic = monotonic
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._check_targets(self.targets)
        # Targets with their own TLS needs (CA bundle, client certificate) get a client of their own.
        self._tls_clients: dict[tuple[str | None, str | None, str | None, bool], httpx.AsyncClient] = {}
        self._outbox: deque[list[ProbeResult]] = deque()
        self._sender: asyncio.Task[None] | None = None

    @staticmethod
    def _check_targets(targets: Iterable[ProbeTarget]) -> None:
        """Fail at start-up on a target that could never make a valid event, not mid-stream."""
        for target in targets:
            try:
                ProbeResult(
                    service=target.service, endpoint=target.url, timestamp=utc_now(), latency_ms=0, ok=True
                )
            except ValidationError as exc:
                raise ValueError(f"bad probe target {target.service!r} -> {target.url!r}: {exc}") from exc
            try:
                url = httpx.URL(target.url)
            except httpx.InvalidURL as exc:
                raise ValueError(f"bad probe target {target.service!r}: {target.url!r} is not a URL") from exc
            if url.scheme not in ("http", "https") or not url.host:
                needs = "needs http:// or https:// and a host"
                raise ValueError(f"bad probe target {target.service!r}: {target.url!r} {needs}")

    async def probe(self, target: ProbeTarget) -> ProbeResult:
        """Probe one target, retrying only attempts without an HTTP answer; never raises."""
        started = self.now()
        attempts = 0
        waited = 0.0
        first_error: str | None = None
        answer: _Answer | None = None
        last_error = ""
        while True:
            attempts += 1
            began = self.monotonic()
            try:
                answer = await self._attempt(target)
            except _NoAnswer as exc:
                last_error = str(exc)
                first_error = first_error or last_error
            finally:
                waited += max(0.0, self.monotonic() - began)
            if answer is not None or attempts > self.settings.retries:
                break
            await self.sleep(self.settings.retry_backoff_seconds)

        details: Details = {}
        status: HealthStatus | None = "error"
        error: str | None = last_error
        ok = False
        if answer is None:
            if attempts > 1 and first_error != last_error:
                details["probe_first_error"] = (first_error or "")[:MAX_ERROR_CHARS]
        else:
            reading = read_health(answer.status_code, answer.body, target.body)
            ok, status, error, details = reading.ok, reading.status, reading.error, dict(reading.details)
            if first_error is not None:
                details["probe_retried"] = True
                details["probe_first_error"] = first_error[:MAX_ERROR_CHARS]
                if ok:
                    error = first_error
        return ProbeResult(
            service=target.service,
            endpoint=target.url,
            timestamp=started,
            latency_ms=min(round(waited * 1000.0, 3), 3_600_000.0),
            status_code=answer.status_code
            if answer is not None and 100 <= answer.status_code <= 599
            else None,
            ok=ok,
            status=status,
            error=error[:MAX_ERROR_CHARS] if error else None,
            attempts=min(attempts, 100),
            details=details,
        )

    def _client_for(self, target: ProbeTarget) -> httpx.AsyncClient:
        key = target.tls_key()
        if key == (None, None, None, True):
            return self.client
        if key not in self._tls_clients:
            self._tls_clients[key] = make_client(self.settings.timeout_seconds, tls=target)
        return self._tls_clients[key]

    async def aclose(self) -> None:
        """Close the clients this runner made (the injected default client is the caller's)."""
        for client in self._tls_clients.values():
            await client.aclose()
        self._tls_clients.clear()

    async def _attempt(self, target: ProbeTarget) -> _Answer:
        timeout = self.settings.timeout_seconds
        try:
            client = self._client_for(target)
            # One budget for the whole attempt: httpx's timeouts are per socket operation, and a
            # server dripping bytes would otherwise never time out.
            async with asyncio.timeout(timeout):
                async with client.stream(
                    "GET", target.url, timeout=timeout, headers=target.request_headers()
                ) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            return _Answer(response.status_code, b"<body larger than 1 MiB, not read>")
                    return _Answer(response.status_code, bytes(body))
        except TimeoutError as exc:
            raise _NoAnswer(f"timeout after {timeout:g}s") from exc
        except httpx.TimeoutException as exc:
            raise _NoAnswer(f"timeout after {timeout:g}s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise _NoAnswer(f"{type(exc).__name__}: {exc or 'no detail'}") from exc
        except OSError as exc:
            raise _NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # e.g. httpx.InvalidURL: still a published failure, not a crash
            raise _NoAnswer(f"probe failed: {type(exc).__name__}: {exc}") from exc

    async def run_round(self) -> list[ProbeResult]:
        """Probe all targets concurrently (at most ``max_concurrency`` at once).

        Results are handed to the publisher in the background, so a slow Kafka never delays the
        next round; ``run()`` waits for that at its end, a caller of ``run_round`` must ``drain()``.
        """
        gate = asyncio.Semaphore(self.max_concurrency)

        async def guarded(target: ProbeTarget) -> ProbeResult:
            async with gate:
                return await self.probe(target)

        results = list(await asyncio.gather(*(guarded(t) for t in self.targets)))
        if self.metrics is not None:
            for result in results:
                self.metrics.observe(result)
        if self.publisher is not None and results:
            self._outbox.append(results)
            if self._sender is None or self._sender.done():
                self._sender = asyncio.create_task(self._send_outbox())
        return results

    async def drain(self) -> None:
        """Wait until every finished round has been handed to the publisher (and flushed)."""
        while self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)

    async def _send_outbox(self) -> None:
        # One sender, in a worker thread: publishing may block (a reconnect to a dead broker takes
        # seconds), and probing must keep its rhythm meanwhile. Rounds leave in the order they ran.
        while self._outbox:
            batch = self._outbox.popleft()
            try:
                await asyncio.to_thread(self._publish, batch)
            except Exception:  # the publisher buffers and reports; never lose the probe loop to it
                log.exception("publishing %d probe results failed", len(batch))

    def _publish(self, results: Sequence[ProbeResult]) -> None:
        assert self.publisher is not None
        for result in results:
            self.publisher.publish(self.topic, result.key(), result.to_json_bytes())
        # Probes are few and precious: hand them over now rather than on the producer's schedule.
        self.publisher.flush(timeout=min(self.settings.timeout_seconds, 5.0))

    def next_delay(self, round_seconds: float) -> float:
        """Pause before the next round so rounds *start* one jittered interval apart."""
        pause = jittered_interval(self.settings.interval_seconds, self.settings.jitter_fraction, self.rng)
        return max(0.0, pause - round_seconds)

    async def run(
        self,
        *,
        max_rounds: int | None = None,
        stop: asyncio.Event | None = None,
        on_round: Callable[[list[ProbeResult]], None] | None = None,
    ) -> int:
        """Probe round after round until ``stop`` is set or ``max_rounds`` ran; returns rounds run."""
        rounds = 0
        try:
            while (max_rounds is None or rounds < max_rounds) and not (stop and stop.is_set()):
                began = self.monotonic()
                results = await self.run_round()
                rounds += 1
                if on_round is not None:
                    try:
                        on_round(results)
                    except Exception:  # a display bug must not stop the probes
                        log.exception("on_round callback failed")
                if max_rounds is not None and rounds >= max_rounds:
                    break
                delay = self.next_delay(self.monotonic() - began)
                if stop is None:
                    await self.sleep(delay)
                else:
                    await _sleep_or_stop(self.sleep, delay, stop)
        finally:
            await self.drain()
        return rounds


async def _sleep_or_stop(sleep: Sleep, delay: float, stop: asyncio.Event) -> None:
    sleeper = asyncio.ensure_future(sleep(delay))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)


def make_client(timeout: float, tls: ProbeTarget | None = None) -> httpx.AsyncClient:
    """The default client: follows redirects, no shared cookies, pooled connections.

    ``tls``: a target whose CA bundle, client certificate and verification this client uses.
    """
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    verify: bool | ssl.SSLContext = True
    if tls is not None and tls.tls_key() != (None, None, None, True):
        if not tls.verify_tls:
            verify = False
        else:
            verify = ssl.create_default_context(cafile=str(tls.ca_bundle) if tls.ca_bundle else None)
            if tls.client_cert is not None:
                key = str(tls.client_key) if tls.client_key else None
                verify.load_cert_chain(str(tls.client_cert), key)
    return httpx.AsyncClient(timeout=timeout, follow_redirects=True, limits=limits, verify=verify)


__all__ = ["HealthReading", "ProbeRunner", "jittered_interval", "make_client", "read_health", "utc_now"]
