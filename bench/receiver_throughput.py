"""Throughput of ``forewarn receive``'s Prometheus door: how many samples per second one process takes.

Why: an operator pointing a Prometheus at forewarn asks whether one receiver keeps up with its write
rate. Two measurements, both on requests shaped as Prometheus 2.42 sends them (at most 500 samples
per request, labels job/instance/pod, snappy block + protobuf):

1. decode: snappy + protobuf parse + mapping to ``MetricSample`` (CPU only, one thread);
2. http: the same bodies POSTed over a real loopback socket to the receiver app (uvicorn), one
   client, into a publisher that only counts (Kafka has its own benchmark, kafka_throughput.py).

Usage: ``python bench/receiver_throughput.py [--requests 400] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

import cramjam
import httpx
from pydantic import SecretStr

from forewarn.collect.receiver import create_receiver
from forewarn.collect.remote_write import WriteRequest, decode_write_request, samples_from_write_request
from forewarn.dev.serving import serving
from forewarn.settings import ReceiverSettings, Settings

SAMPLES_PER_REQUEST = 500
SERIES_PER_REQUEST = 100


class CountingPublisher:
    def __init__(self) -> None:
        self.count = 0

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.count += 1

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


def body(index: int) -> bytes:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    request = WriteRequest()
    for series in range(SERIES_PER_REQUEST):
        ts = request.timeseries.add()
        for name, value in (
            ("__name__", f"node_metric_{series % 20}"),
            ("instance", f"10.0.{series % 7}.{series}:9100"),
            ("job", f"svc-{series % 5}"),
            ("pod", f"pod-{series}"),
        ):
            ts.labels.add(name=name, value=value)
        for step in range(SAMPLES_PER_REQUEST // SERIES_PER_REQUEST):
            ts.samples.add(value=index + series * 0.01 + step, timestamp=now_ms - step * 1000)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def bench_decode(bodies: list[bytes]) -> dict[str, Any]:
    started = time.perf_counter()
    samples = 0
    for raw in bodies:
        decoded = decode_write_request(raw, max_decoded_bytes=64 << 20)
        samples += len(
            samples_from_write_request(decoded, service_labels=["service", "job"], default_service="x").events
        )
    seconds = time.perf_counter() - started
    return {
        "requests": len(bodies),
        "samples": samples,
        "seconds": seconds,
        "samples_per_second": samples / seconds,
    }


def bench_http(bodies: list[bytes]) -> dict[str, Any]:
    publisher = CountingPublisher()
    settings = Settings(receiver=ReceiverSettings(keys=[SecretStr("bench")]))
    headers = {
        "Content-Encoding": "snappy",
        "Content-Type": "application/x-protobuf",
        "Authorization": "Bearer bench",
    }
    with serving(create_receiver(settings, publisher)) as url, httpx.Client() as client:
        client.post(f"{url}/api/v1/write", content=bodies[0], headers=headers).raise_for_status()  # warm up
        publisher.count = 0
        started = time.perf_counter()
        for raw in bodies:
            client.post(f"{url}/api/v1/write", content=raw, headers=headers).raise_for_status()
        seconds = time.perf_counter() - started
    return {
        "requests": len(bodies),
        "samples": publisher.count,
        "seconds": seconds,
        "requests_per_second": len(bodies) / seconds,
        "samples_per_second": publisher.count / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    bodies = [body(i) for i in range(args.requests)]
    results: dict[str, Any] = {
        "samples_per_request": SAMPLES_PER_REQUEST,
        "body_bytes": sum(map(len, bodies)) / len(bodies),
        "decode": bench_decode(bodies),
        "http": bench_http(bodies),
    }
    for stage in ("decode", "http"):
        r = results[stage]
        rate = r["samples_per_second"]
        print(f"{stage:7s} {r['samples']:>8,} samples in {r['seconds']:.2f} s: {rate:>9,.0f} samples/s")
    print(f"body: {results['body_bytes']:.0f} bytes per request of {SAMPLES_PER_REQUEST} samples")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
