"""A burst at 10x the normal rate through a real ``forewarn run``: lag recovers, memory stays flat.

Issue #15. A load generator (confluent-kafka, so the test process is not the bottleneck) sends a
mixed workload (probes, metric samples, log lines over a fixed set of series) at NORMAL events/s,
then 10x that for the burst, then NORMAL again. Counted: every event sent is processed
(``forewarn_pipeline_events_total``), how long after the burst the dataflow has caught up, and the
dataflow process's RSS, sampled all along. The minute-long burst is ``long``; CI runs 12 s of it.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from forewarn.settings import Settings

from ..fault_report import record
from .kafka_process import rss_bytes, start_dataflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NORMAL = 800  # events/s: the burst (8,000/s) is about half what `forewarn bench pipeline` measured alone
BURST = 10 * NORMAL
TICK = 0.05
EVENTS = "forewarn_pipeline_events_total"


def _event(i: int, settings: Settings) -> tuple[str, bytes, bytes]:
    """The i-th event of the workload: 6 probed services, 20 gauges, 5 log sources."""
    now = datetime.now(UTC).isoformat()
    topics = settings.topics
    kind = i % 3
    if kind == 0:
        service = f"svc-{i % 6}"
        doc = {
            "schema_version": 1,
            "kind": "probe",
            "service": service,
            "endpoint": f"http://127.0.0.1:8080/api/health/{service}",
            "timestamp": now,
            "latency_ms": 20.0 + (i % 17),
            "status_code": 200,
            "ok": True,
            "status": "ok",
        }
        return topics.probes, service.encode(), json.dumps(doc).encode()
    if kind == 1:
        name = f"gauge_{i % 20}"
        doc = {"kind": "metric", "service": "database", "name": name, "value": i % 50, "timestamp": now}
        return topics.metrics, f"database/{name}".encode(), json.dumps(doc).encode()
    service = f"app-{i % 5}"
    doc = {"kind": "log", "service": service, "level": "INFO", "message": f"request {i} ok", "timestamp": now}
    return topics.logs, service.encode(), json.dumps(doc).encode()


class _Load:
    """Sends at a given rate, in TICK slices; counts what Kafka acknowledged."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = Producer(
            {"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 10, "acks": "all"}
        )
        self.sent = 0
        self.acked = 0

    def _acked(self, error: object, _message: object) -> None:
        if error is None:
            self.acked += 1

    def run(self, rate: int, seconds: float) -> None:
        """Keep the count sent on the line ``rate`` x elapsed for ``seconds``."""
        start, base = time.monotonic(), self.sent
        while (elapsed := time.monotonic() - start) < seconds:
            while self.sent < base + int(rate * elapsed):
                topic, key, value = _event(self.sent, self.settings)
                self.producer.produce(topic, value, key, on_delivery=self._acked)
                self.sent += 1
            self.producer.poll(0)
            time.sleep(TICK)

    def close(self) -> None:
        assert self.producer.flush(30) == 0


def _sample(pid: int, samples: list[tuple[float, int]], stop: threading.Event) -> None:
    while not stop.wait(0.25):
        samples.append((time.monotonic(), rss_bytes(pid)))


@pytest.mark.parametrize(
    "burst_seconds", [12.0, pytest.param(60.0, marks=pytest.mark.long)], ids=["ci", "minute"]
)
def test_burst_at_ten_times_the_rate_lag_recovers_and_memory_stays_flat(
    kafka_settings: Settings, tmp_path: Path, burst_seconds: float
) -> None:
    load = _Load(kafka_settings)
    with start_dataflow(kafka_settings, tmp_path) as dataflow:
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(dataflow.proc.pid, samples, stop), daemon=True)
        sampler.start()
        load.run(NORMAL, 5.0)
        burst_start = time.monotonic()
        load.run(BURST, burst_seconds)
        burst_end = time.monotonic()
        load.producer.flush(30)
        sent_by_burst_end = load.sent
        caught_up = dataflow.wait_for_metric(EVENTS, sent_by_burst_end, timeout=120)
        recovered_in = time.monotonic() - burst_end
        load.run(NORMAL, 10.0)  # normal again: memory must settle, not keep climbing
        load.close()
        processed = int(dataflow.wait_for_metric(EVENTS, load.sent, timeout=60))
        stop.set()
        sampler.join(2)
        lag_count = dataflow.metric("forewarn_pipeline_event_lag_seconds_count")

    before = [rss for at, rss in samples if at < burst_start]
    during = [rss for at, rss in samples if burst_start <= at <= burst_end]
    after = [rss for at, rss in samples if at > burst_end + recovered_in]
    record(
        f"burst at 10x the rate ({BURST} events/s) for {burst_seconds:.0f} s",
        events_sent=load.sent,
        accounted_for=processed,
        recovered_in_s=recovered_in,
        rss_mb={
            "dataflow": {
                "before": _mb(max(before)),
                "burst_peak": _mb(max(during)),
                "after_end": _mb(after[-1]),
            }
        },
    )
    assert load.acked == load.sent
    assert caught_up >= sent_by_burst_end
    assert processed == load.sent and lag_count >= load.sent
    # Bounded: a fixed set of series, so after the burst memory settles at or below its burst peak
    # (allocator slack aside), and the burst's second half does not grow it like a leak would.
    assert after[-1] <= max(during) + 32 * 2**20, f"RSS {_mb(after[-1])} MB after vs {_mb(max(during))} peak"
    half = len(during) // 2
    assert max(during[half:]) - max(during[:half]) <= 64 * 2**20


def _mb(value: int) -> float:
    return round(value / 2**20, 1)
