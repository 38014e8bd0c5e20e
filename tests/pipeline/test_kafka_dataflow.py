"""The dataflow against the real broker: `forewarn run` in a subprocess, plain kafka-python clients.

The dataflow runs exactly as an operator would start it (the CLI, its own process, metrics on a
free port) and is stopped with SIGINT, which must exit cleanly.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from forewarn.events import DeadLetter, Detection
from forewarn.kafka.io import read_topic
from forewarn.settings import REVEAL_SECRETS, DetectorSettings, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class DataflowProcess:
    proc: subprocess.Popen[str]
    metrics_url: str
    lines: list[str] = field(default_factory=list)
    stopped_in: float | None = None  # seconds from the SIGINT to the process's exit

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
        text = httpx.get(self.metrics_url, timeout=5).text
        total = 0.0
        for line in text.splitlines():
            match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
            if not match:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if all(got.get(k) == v for k, v in (labels or {}).items()):
                total += float(match.group(2))
        return total

    def wait_for_metric(self, name: str, expected: float, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        value = self.metric(name)
        while value < expected and time.monotonic() < deadline:
            assert self.proc.poll() is None, "dataflow died:\n" + "\n".join(self.lines[-30:])
            time.sleep(0.25)
            value = self.metric(name)
        return value


def _write_config(settings: Settings, path: Path) -> Path:
    # A 1 s epoch: recovery snapshots (and so a clean restart) do not wait the default 10 s.
    short_epochs = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"epoch_interval_seconds": 1.0})}
    )
    # Secrets dump masked unless revealed: the process reading this file needs the real values.
    data = short_epochs.model_dump(mode="json", exclude_none=True, context={REVEAL_SECRETS: True})
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def dataflow(kafka_settings: Settings, tmp_path: Path) -> Iterator[DataflowProcess]:
    with start_dataflow(kafka_settings, tmp_path) as process:
        yield process


def _ignore_sigint() -> None:  # runs in the child before exec; SIG_IGN survives the exec
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def start_dataflow(
    settings: Settings, tmp_path: Path, *extra: str, stop_within: float = 30.0, ignore_sigint: bool = False
) -> Iterator[DataflowProcess]:
    """``forewarn run --from-beginning --metrics-port 0 EXTRA`` until the block ends, then SIGINT.

    ``ignore_sigint`` starts it as a background job of a non-interactive shell (a CI step) would:
    SIGINT ignored, so Python installs no KeyboardInterrupt handler of its own.
    """
    config = _write_config(settings, tmp_path / "forewarn.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env.update({"FOREWARN_CONFIG": str(config), "PYTHONUNBUFFERED": "1"})
    if "FOREWARN_CACHE_DIR" in os.environ:
        env["FOREWARN_CACHE_DIR"] = os.environ["FOREWARN_CACHE_DIR"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from forewarn.cli import app; app()",
            "run",
            "--from-beginning",
            "--metrics-port",
            "0",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ignore_sigint if ignore_sigint else None,
    )
    lines: list[str] = []
    ready = threading.Event()
    url: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            found = re.search(r"metrics: (http://\S+/metrics)", line)
            if found:
                url.append(found.group(1))
            if "dataflow running" in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    process: DataflowProcess | None = None
    try:
        assert ready.wait(90), "dataflow did not start:\n" + "\n".join(lines)
        assert proc.poll() is None and url, "dataflow exited:\n" + "\n".join(lines)
        process = DataflowProcess(proc, url[0], lines)
        yield process
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            try:
                code = proc.wait(timeout=stop_within)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(
                    f"dataflow did not stop within {stop_within:.0f} s of SIGINT:\n" + "\n".join(lines[-30:])
                )
            if process is not None:
                process.stopped_in = time.monotonic() - sent
            reader.join(5)
            assert code == 0, f"dataflow exited with {code} on SIGINT:\n" + "\n".join(lines[-30:])
            assert any("dataflow stopped" in line for line in lines)


def member_urls(lines: list[str]) -> list[str]:
    """The /metrics URL each process announced so far."""
    return [m.group(1) for line in lines if (m := re.search(r"metrics: (http://\S+/metrics)", line))]


def member_pids(lines: list[str]) -> list[int]:
    """The member pids a ``--workers N`` supervisor announced."""
    started = next(line for line in lines if re.search(r"started \d+ dataflow processes", line))
    return [int(p) for p in re.findall(r"\d+", started.split("pids", 1)[1])]


def probe(service: str, when: datetime, ok: bool) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "kind": "probe",
            "service": service,
            "endpoint": f"http://127.0.0.1:8080/api/health/{service}",
            "timestamp": when.isoformat(),
            "latency_ms": 20.0 + random.random(),
            "status_code": 200 if ok else 503,
            "ok": ok,
            "status": "ok" if ok else "down",
            "error": None if ok else "database unreachable",
        }
    ).encode()


def plain_producer(settings: Settings) -> Any:
    return KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=5)


def test_failing_service_probes_become_a_detection(
    kafka_settings: Settings, dataflow: DataflowProcess
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=60)
    producer = plain_producer(kafka_settings)
    for i in range(15):
        producer.send(
            kafka_settings.topics.probes,
            key=b"payments",
            value=probe("payments", start + timedelta(seconds=i), True),
        )
    for i in range(15, 20):
        producer.send(
            kafka_settings.topics.probes,
            key=b"payments",
            value=probe("payments", start + timedelta(seconds=i), False),
        )
    producer.flush()
    producer.close()

    records = read_topic(
        kafka_settings.kafka.bootstrap_servers, kafka_settings.topics.detections, timeout=60, max_messages=1
    )
    assert records, "no detection within 60 s:\n" + "\n".join(dataflow.lines[-30:])
    record = records[0]
    detection = Detection.model_validate_json(record.value)
    assert record.key == b"payments"
    assert detection.service == "payments" and detection.detection_kind == "failure"
    assert detection.timestamp == start + timedelta(seconds=16)  # the second consecutive failure
    assert "2 consecutive failed probes" in detection.reason and "database unreachable" in detection.reason
    assert dataflow.wait_for_metric("forewarn_detections_total", 1) >= 1
    assert dataflow.metric("forewarn_pipeline_events_total", {"kind": "probe"}) == 20


def malformed(i: int, now: datetime) -> bytes | None:
    good = json.loads(probe("auth", now, True))
    variants: list[bytes | None] = [
        b"{not json " + str(i).encode(),
        bytes(random.Random(i).randrange(128, 256) for _ in range(40)),  # not UTF-8
        json.dumps({**good, "latency_ms": f"slow-{i}"}).encode(),  # wrong type
        json.dumps({k: v for k, v in good.items() if k != "ok"} | {"n": i}).encode(),  # missing field
        json.dumps({**good, "timestamp": "2999-01-01T00:00:00Z", "n": i}).encode(),  # absurd timestamp
        json.dumps({**good, "details": {"pad": "x" * 70_000}, "n": i}).encode(),  # over 64 KiB
        json.dumps({**good, "kind": "trace", "n": i}).encode(),  # unknown kind
        json.dumps([i]).encode(),  # not an object
        b"",  # empty
        None,  # tombstone
    ]
    return variants[i % len(variants)]


def test_malformed_flood_goes_to_dead_letters_and_the_dataflow_stays_up(
    kafka_settings: Settings, dataflow: DataflowProcess
) -> None:
    now = datetime.now(UTC) - timedelta(seconds=120)
    producer = plain_producer(kafka_settings)
    topics = kafka_settings.topics
    bad: list[bytes] = []
    good = 0
    rng = random.Random(11)
    for i in range(1000):
        value = malformed(i, now)
        bad.append(value or b"")
        topic = rng.choice([topics.probes, topics.logs, topics.metrics])
        producer.send(topic, key=f"k{i % 7}".encode(), value=value)
        if i % 2 == 0:  # 500 good events of every kind, interleaved
            when = now + timedelta(milliseconds=i)
            kind = (i // 2) % 3
            if kind == 0:
                producer.send(topics.probes, key=b"email", value=probe("email", when, True))
            elif kind == 1:
                doc = {
                    "kind": "metric",
                    "service": "database",
                    "name": "db_pool_in_use",
                    "value": i % 10,
                    "timestamp": when.isoformat(),
                }
                producer.send(topics.metrics, key=b"database/db_pool_in_use", value=json.dumps(doc).encode())
            else:
                doc = {
                    "kind": "log",
                    "service": "auth",
                    "level": "INFO",
                    "message": f"login ok {i}",
                    "timestamp": when.isoformat(),
                }
                producer.send(topics.logs, key=b"auth", value=json.dumps(doc).encode())
            good += 1
    producer.flush()
    producer.close()

    assert dataflow.wait_for_metric("forewarn_pipeline_dead_letters_total", 1000) == 1000
    assert dataflow.wait_for_metric("forewarn_pipeline_events_total", good) == good == 500
    records = read_topic(
        kafka_settings.kafka.bootstrap_servers, topics.dead_letter, timeout=60, max_messages=1000
    )
    letters = [DeadLetter.model_validate_json(r.value) for r in records]
    assert len(letters) == 1000
    assert Counter(base64.b64decode(letter.original_b64) for letter in letters) == Counter(bad)
    assert all(letter.reason and letter.source_topic in topics.inputs() for letter in letters)
    assert all(letter.offset is not None and letter.partition is not None for letter in letters)
    reasons = Counter(letter.reason.split(":")[0] for letter in letters)
    assert reasons["empty message"] == 200 and reasons["not UTF-8"] == 100 and reasons["bad JSON"] == 100
    assert dataflow.metric("forewarn_pipeline_dead_letters_total", {"reason": "too_large"}) == 100

    # still up: a failing service after the flood is detected
    assert dataflow.proc.poll() is None
    producer = plain_producer(kafka_settings)
    later = datetime.now(UTC) - timedelta(seconds=10)
    for i in range(3):
        producer.send(topics.probes, key=b"sms", value=probe("sms", later + timedelta(seconds=i), False))
    producer.flush()
    producer.close()
    detections = read_topic(
        kafka_settings.kafka.bootstrap_servers, topics.detections, timeout=60, max_messages=1
    )
    assert [Detection.model_validate_json(r.value).service for r in detections] == ["sms"]
    heartbeat = dataflow.metric("forewarn_pipeline_heartbeat_timestamp_seconds")
    assert time.time() - heartbeat < 10


def test_two_worker_processes_share_the_partitions_and_stop_cleanly(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=60)
    services = ["auth", "database", "email", "sms", "payments", "overall"]
    recovery = tmp_path / "recovery"
    with start_dataflow(
        kafka_settings, tmp_path, "--workers", "2", "--recovery-dir", str(recovery)
    ) as dataflow:
        producer = plain_producer(kafka_settings)
        for i in range(12):
            for service in services:
                when = start + timedelta(seconds=i)
                producer.send(
                    kafka_settings.topics.probes, key=service.encode(), value=probe(service, when, i < 10)
                )
        producer.flush()
        producer.close()
        records = read_topic(
            kafka_settings.kafka.bootstrap_servers,
            kafka_settings.topics.detections,
            timeout=60,
            max_messages=6,
        )
        assert sorted(Detection.model_validate_json(r.value).service for r in records) == sorted(services)
        deadline = time.monotonic() + 30
        while len(member_urls(dataflow.lines)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        urls = member_urls(dataflow.lines)
        assert len(urls) == 2
        per_process = [
            DataflowProcess(dataflow.proc, url).metric("forewarn_pipeline_events_total") for url in urls
        ]
        assert sum(per_process) == 72 and all(n > 0 for n in per_process)  # both processes did work
        pids = member_pids(dataflow.lines)
    for pid in pids:  # the supervisor stopped both members before exiting
        assert not Path(f"/proc/{pid}").exists()
    assert len(list(recovery.glob("part-*.sqlite3"))) == 2  # one store partition per member


def test_restart_with_a_recovery_dir_resumes_state_and_offsets(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """Stop with SIGINT, start again on the same recovery dir: nothing re-read, detector state kept.

    Discriminating: after the restart only 3 slow probes arrive. A fresh latency detector would still
    be warming up (10 samples) and stay silent; the restored one has 12 samples and alerts.
    """
    # The EW z-score's warm-up of 10 makes "fresh" and "restored" state give different answers.
    kafka_settings = kafka_settings.model_copy(update={"detector": DetectorSettings(model="zscore")})
    recovery = tmp_path / "recovery"
    start = datetime.now(UTC) - timedelta(seconds=60)
    topics = kafka_settings.topics

    def send(docs: list[bytes]) -> None:
        producer = plain_producer(kafka_settings)
        for doc in docs:
            producer.send(topics.probes, key=b"auth", value=doc)
        producer.flush()
        producer.close()

    def slow(i: int) -> bytes:
        doc = json.loads(probe("auth", start + timedelta(seconds=i), True))
        return json.dumps({**doc, "latency_ms": 2000.0}).encode()

    with start_dataflow(kafka_settings, tmp_path, "--recovery-dir", str(recovery)) as first:
        send([probe("auth", start + timedelta(seconds=i), True) for i in range(12)])
        assert first.wait_for_metric("forewarn_pipeline_events_total", 12) == 12
        time.sleep(1.5)  # let an epoch close (epoch_interval_seconds below) so the snapshot is written
    assert list(recovery.glob("part-*.sqlite3"))

    with start_dataflow(kafka_settings, tmp_path, "--recovery-dir", str(recovery)) as second:
        send([slow(12 + i) for i in range(3)])
        records = read_topic(
            kafka_settings.kafka.bootstrap_servers, topics.detections, timeout=60, max_messages=1
        )
        assert [Detection.model_validate_json(r.value).series for r in records] == ["auth/latency_ms"]
        assert second.metric("forewarn_pipeline_events_total") == 3  # the first 12 were not re-read
