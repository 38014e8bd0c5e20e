"""A demo-like scrape target for the dashboard test: the real API plus every metric family, fed live.

Why this shape: the dashboard must work against what forewarn's processes actually expose, so the
target is the real API server (``/metrics`` with the store collector and API metrics) with the
pipeline's real ``PipelineMetrics`` and the shared families of ``forewarn.metrics`` on its registry.
A feeder thread produces real values: it probes the running API over HTTP (latency measured, a
wrong key now and then is a failed probe), stores each result, runs a real ``TrendForecaster`` on a
rising pool gauge, and records healing, LLM and engine-quality events.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from itertools import cycle
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from forewarn.api.server import ApiServer
from forewarn.events import DeadLetter, Detection, ProbeResult, Severity
from forewarn.metrics import engine_metrics, forecast_metrics, healing_metrics, llm_metrics, probe_metrics
from forewarn.models.trend import TrendForecaster
from forewarn.pipeline.metrics import PipelineMetrics
from forewarn.settings import ApiSettings, Settings
from forewarn.store.db import Store, make_engine
from forewarn.store.records import Kind, parse_record
from tests.factories import make_incident

READ_KEY = "metrics-target-key"
SERVICES = ("auth", "database", "payments")


class MetricsTarget:
    def __init__(self, workdir: Path) -> None:
        self.store = Store(make_engine(f"sqlite:///{workdir / 'state.db'}"))
        self.registry = CollectorRegistry()
        self.pipeline = PipelineMetrics(self.registry)
        self.probes = probe_metrics(self.registry)
        self.forecasts = forecast_metrics(self.registry)
        self.healing = healing_metrics(self.registry)
        self.llm = llm_metrics(self.registry)
        self.engine = engine_metrics(self.registry)
        settings = Settings(api=ApiSettings(read_keys=[READ_KEY]))
        self.server = ApiServer(settings, store=self.store, registry=self.registry, sink=False, port=0)
        self.forecaster = TrendForecaster(halflife_seconds=60.0, warmup=5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="metrics-target-feeder", daemon=True)
        self.rounds = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def start(self) -> None:
        self.server.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.server.stop()
        self.store.close()

    def _probe(self, client: httpx.Client, service: str, good: bool) -> ProbeResult:
        started = time.perf_counter()
        headers = {"X-API-Key": READ_KEY if good else "wrong-key"}
        try:
            response = client.get(f"{self.server.url}/v1/health", headers=headers)
            code: int | None = response.status_code
            error = None
        except httpx.HTTPError as exc:
            code, error = None, str(exc)
        latency_ms = (time.perf_counter() - started) * 1000.0
        ok = code == 200
        return ProbeResult(
            service=service,
            endpoint=f"{self.server.url}/v1/health",
            timestamp=datetime.now(UTC),
            latency_ms=latency_ms,
            status_code=code,
            ok=ok,
            status="ok" if ok else "down",
            error=error,
        )

    def _feed(self) -> None:
        services = cycle(SERVICES)
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                self.rounds += 1
                n = self.rounds
                probe = self._probe(client, next(services), good=n % 5 != 0)
                self.probes.observe(probe)
                self.store.upsert(Kind.PROBE, [parse_record(Kind.PROBE, probe.model_dump(mode="json"))])
                self.pipeline.observe_event("forewarn.probes", probe)
                self.pipeline.beat()
                self.store.record_topic(
                    "forewarn.probes",
                    messages=1,
                    rejected=0,
                    last_offset=n,
                    last_event_ts=probe.timestamp.timestamp(),
                )
                if not probe.ok:
                    detection = Detection(
                        id=Detection.make_id(f"{probe.service}/probe", "zscore", "failure", probe.timestamp),
                        service=probe.service,
                        series=f"{probe.service}/probe",
                        detection_kind="failure",
                        detector="zscore",
                        timestamp=probe.timestamp,
                        detected_at=datetime.now(UTC),
                        score=0.9,
                        confidence=0.7,
                        severity=Severity.CRITICAL,
                        value=1.0,
                        reason="probe failed",
                    )
                    self.pipeline.observe_detection(detection)
                    self.pipeline.observe_dead_letter(
                        DeadLetter(
                            reason="invalid JSON: test",
                            original_b64="",
                            original_size=0,
                            received_at=datetime.now(UTC),
                        )
                    )
                    incident = make_incident(f"inc-{probe.service}", probe.service, probe.timestamp)
                    self.store.upsert(Kind.INCIDENT, [parse_record(Kind.INCIDENT, incident)])
                # A DB pool that leaks one connection every round, out of 200.
                now = time.time()
                self.forecaster.learn_one(20.0 + n, now)
                forecast = self.forecaster.forecast(900.0, threshold=200.0)
                self.forecasts.observe(
                    "database",
                    "db_pool_in_use",
                    point=forecast.point,
                    breach_probability=forecast.breach_probability,
                    time_to_exhaustion_seconds=forecast.time_to_exhaustion_seconds
                    if forecast.time_to_exhaustion_seconds is not None
                    else 3600.0,
                )
                self.healing.attempts.labels(service="database", action="restart_pool").inc()
                if n % 4:
                    self.healing.successes.labels(service="database", action="restart_pool").inc()
                else:
                    self.healing.rollbacks.labels(service="database", action="restart_pool").inc()
                    self.healing.guard_rejections.labels(guard="rate_limit").inc()
                self.healing.pending.set(n % 3)
                self.healing.kill_switch.set(0)
                self.llm.tokens.labels(kind="prompt").inc(350)
                self.llm.tokens.labels(kind="completion").inc(120)
                self.llm.cost.inc(0.0004)
                self.llm.budget_remaining.set(5.0 - 0.0004 * n)
                self.engine.lead_time.labels(service="database").observe(300.0 + n)
                self.engine.heals_evaluated.inc()
                if n % 10 == 0:
                    self.engine.false_heals.inc()
                self.engine.beat("api")
                self._stop.wait(0.1)
