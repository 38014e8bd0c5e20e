"""A paced producer for the latency step of ``forewarn bench pipeline`` (run as its own process).

Why a process of its own: sending 10k messages a second from the process that also reads the
detections back would make the two share one GIL, and the reader's clock would then measure our own
scheduling, not the dataflow. Each probe carries its send time as its event time, so a detection's
latency is its arrival time minus its ``timestamp``.

Every service fails 4 probes in a row once a second (every 12 probes at low rates), so the failure
detectors fire steadily (an episode's entry is a detection) amid ordinary traffic.

Usage: ``python -m forewarn.dev.bench.pipeline_pace BOOTSTRAP TOPIC RATE SECONDS`` prints one JSON
line: messages sent and the rate achieved.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from confluent_kafka import Producer

SERVICES = 50
FAILING = 4
TICK = 0.005


def probe(service: str, seq: int, cycle: int, now: float) -> bytes:
    failing = seq % cycle >= cycle - FAILING
    stamp = datetime.fromtimestamp(now, UTC).isoformat()
    code, ok = (503, "false") if failing else (200, "true")
    return (
        f'{{"kind":"probe","service":"{service}","endpoint":"http://127.0.0.1:8080/api/health/{service}",'
        f'"timestamp":"{stamp}","latency_ms":{40 + seq % 7},"status_code":{code},"ok":{ok}}}'
    ).encode()


def pace(bootstrap: str, topic: str, rate: float, seconds: float) -> dict[str, float]:
    cycle = max(12, int(rate / SERVICES))  # each service fails about once a second
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "acks": "all"})
    names = [f"lat{i:02d}" for i in range(SERVICES)]
    keys = [n.encode() for n in names]
    sent = 0
    started = time.time()
    end = started + seconds
    while (now := time.time()) < end:
        due = int((now - started) * rate) - sent
        for _ in range(due):
            i = sent % SERVICES
            producer.produce(topic, probe(names[i], sent // SERVICES, cycle, time.time()), keys[i])
            sent += 1
        producer.poll(0)
        time.sleep(max(0.0, TICK - (time.time() - now)))
    producer.flush(30)
    # its own CPU (librdkafka's threads included): what the load generator takes from the machine
    return {"sent": sent, "rate": sent / (time.time() - started), "cpu_seconds": time.process_time()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    print(json.dumps(pace(args.bootstrap, args.topic, args.rate, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
