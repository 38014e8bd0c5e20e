"""The data of ``forewarn bench pipeline``: workloads, loading them into Kafka, reading them back raw.

Why apart from the orchestration: what is measured (the same messages for the raw consumer and for
the dataflow) must not depend on how the runs are sequenced, and each piece is testable alone.
Messages are keyed like real producers (by service, or service/metric), so a series stays in order
on one partition. Loading and reading use confluent-kafka (librdkafka), the client the dataflow's
own source and sinks are built on, so the raw figure is the ceiling of that same client.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from forewarn.settings import TopicSettings

SERVICES = ("auth", "database", "email", "sms", "payments", "overall")
Message = tuple[str, bytes, bytes]  # (topic, key, value)
Progress = Callable[[int], None]  # advance by this many messages

__all__ = [
    "Message",
    "RawRead",
    "create_topics",
    "detection_times",
    "mixed_workload",
    "produce_all",
    "raw_consume",
    "series_workload",
]


def mixed_workload(topics: TopicSettings, count: int, seed: int = 1) -> list[Message]:
    """70 % probes of 6 services (one fails half-way), 15 % metrics, 14 % logs, 1 % malformed.

    Event times are 100 ms apart and end now, so nothing is too old or in the future for ingest.
    """
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(seconds=count / 10 + 60)
    out: list[Message] = []
    for i in range(count):
        when = (start + timedelta(milliseconds=100 * i)).isoformat()
        service = SERVICES[i % len(SERVICES)]
        roll = rng.random()
        if roll < 0.01:
            out.append((topics.probes, service.encode(), b"{broken " + str(i).encode()))
        elif roll < 0.71:
            failing = service == "payments" and i > count // 2
            doc: dict[str, Any] = {
                "kind": "probe",
                "service": service,
                "endpoint": f"http://127.0.0.1:8080/api/health/{service}",
                "timestamp": when,
                "latency_ms": rng.gauss(40, 4) if not failing else 5000.0,
                "status_code": 200 if not failing else 503,
                "ok": not failing,
                "details": {"pool_in_use": rng.randrange(10), "pool_size": 10},
            }
            out.append((topics.probes, service.encode(), json.dumps(doc).encode()))
        elif roll < 0.86:
            doc = {
                "kind": "metric",
                "service": service,
                "name": "memory_bytes",
                "value": rng.gauss(5e8, 1e7),
                "unit": "bytes",
                "timestamp": when,
            }
            out.append((topics.metrics, f"{service}/memory_bytes".encode(), json.dumps(doc).encode()))
        else:
            level = "ERROR" if rng.random() < 0.05 else "INFO"
            doc = {
                "kind": "log",
                "service": service,
                "level": level,
                "message": f"request {i} handled",
                "logger": "musobuddy.http",
                "timestamp": when,
            }
            out.append((topics.logs, service.encode(), json.dumps(doc).encode()))
    return out


def series_workload(topics: TopicSettings, series: int, per_series: int, seed: int = 1) -> list[Message]:
    """``series`` metric series (100 per service), ``per_series`` samples each, 1 s apart, interleaved.

    Every message is a new sample of a different series until all have one, then round again: the
    worst case for state (every series live at once) and the common one for a fleet of gauges.
    """
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(seconds=per_series + 60)
    out: list[Message] = []
    for step in range(per_series):
        when = (start + timedelta(seconds=step)).isoformat()
        for s in range(series):
            service, name = f"svc{s // 100}", f"gauge_{s % 100}"
            doc = {
                "kind": "metric",
                "service": service,
                "name": name,
                "value": 100.0 + 10.0 * rng.random(),
                "timestamp": when,
            }
            out.append((topics.metrics, f"{service}/{name}".encode(), json.dumps(doc).encode()))
    return out


def create_topics(bootstrap: str, names: Iterable[str], partitions: int, timeout: float = 30.0) -> None:
    """Create the topics (each with ``partitions``) and wait until the broker has made them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions) for n in names])
    for future in futures.values():
        future.result(timeout=timeout)
    deadline = time.monotonic() + timeout
    wanted = set(names)
    while time.monotonic() < deadline:
        meta = admin.list_topics(timeout=timeout).topics
        if all(n in meta and len(meta[n].partitions) == partitions for n in wanted):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics not ready after {timeout:.0f}s: {sorted(wanted)}")


def produce_all(bootstrap: str, messages: list[Message], progress: Progress | None = None) -> float:
    """Produce every message (acks=all, batched) and wait for delivery; returns messages/s."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 512 * 1024, "acks": "all"}
    )
    failed: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failed.append(str(error))

    started = time.perf_counter()
    for i, (topic, key, value) in enumerate(messages):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let librdkafka send some first
                producer.poll(0.05)
        if progress is not None and i % 10_000 == 9_999:
            producer.poll(0)
            progress(10_000)
    producer.flush(120)
    seconds = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"{len(failed)} messages not delivered, first: {failed[0]}")
    if progress is not None:
        progress(len(messages) % 10_000)
    return len(messages) / seconds


@dataclass(frozen=True, slots=True)
class RawRead:
    messages: int  # all read
    timed: int  # read after the first one, when the clock ran
    seconds: float

    @property
    def per_second(self) -> float:
        return self.timed / self.seconds if self.seconds > 0 else 0.0


def raw_consume(bootstrap: str, topics: Iterable[str], batch: int = 1000, *, decode: bool = False) -> RawRead:
    """Read every partition of ``topics`` from the start to its end with one plain consumer.

    No processing at all (the count of messages is all that is kept): the most a Python process
    reading these topics with librdkafka can do, in batches of ``batch`` as the dataflow's source.
    ``decode`` also runs the standard library's ``json.loads`` on each message (a bad one counts
    too): the ceiling of any Python consumer that must look inside JSON events.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "forewarn-bench-raw",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        meta = consumer.list_topics(timeout=30).topics
        parts = [TopicPartition(t, p, 0) for t in topics for p in meta[t].partitions]
        ends = {(tp.topic, tp.partition) for tp in parts}
        consumer.assign(parts)
        count = 0
        started: float | None = None  # from the first message: connecting is not reading
        while ends:
            for message in consumer.consume(batch, 1.0):
                error = message.error()
                if error is None:
                    count += 1
                    if decode:
                        _try_json(message.value())
                    if started is None:
                        started = time.perf_counter()
                elif error.code() == KafkaError._PARTITION_EOF:
                    ends.discard((message.topic(), message.partition()))
                else:
                    raise RuntimeError(f"raw consumer error: {error}")
        seconds = time.perf_counter() - started if started is not None else 0.0
        return RawRead(count, max(0, count - 1), seconds)
    finally:
        consumer.close()


def _try_json(value: bytes | None) -> object:
    try:
        return json.loads(value or b"")
    except ValueError:
        return None


def detection_times(
    bootstrap: str, topic: str, until: Callable[[], bool], clock: Callable[[], float] = time.time
) -> list[tuple[float, float]]:
    """(event time, arrival time) of each detection read from ``topic`` until ``until()`` is true.

    The arrival is this process's wall clock when the message came out of the consumer; the event
    time is the detection's ``timestamp``, which the paced producer set to its wall clock at send.
    """
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "forewarn-bench-latency", "enable.auto.commit": False}
    )
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        out: list[tuple[float, float]] = []
        while not until():
            # poll returns at the first message; consume(n, timeout) would wait out its timeout for
            # n messages, and every message of the batch would arrive that late on this clock
            first = consumer.poll(0.05)
            if first is None:
                continue
            arrived = clock()
            for message in [first, *consumer.consume(500, 0)]:
                value = message.value()
                if message.error() is not None or value is None:
                    continue
                stamp = json.loads(value)["timestamp"]
                out.append((datetime.fromisoformat(stamp).timestamp(), arrived))
        return out
    finally:
        consumer.close()
