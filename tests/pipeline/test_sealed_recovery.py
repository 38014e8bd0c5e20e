"""Recovery snapshots sealed with the storage keys: a restart restores the same state, the recovery
files hold no readable log text, a rotated key ring still opens old snapshots, and a missing key is
a clear error rather than a flow fed with ciphertext."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource

from forewarn.events import Detection
from forewarn.field_crypto import FieldCipher, StorageKeyError, generate_key, parse_keys
from forewarn.kafka.io import read_topic
from forewarn.pipeline.dataflow import FlowSinks, build_flow
from forewarn.pipeline.snapshot_seal import open_snapshot, seal_snapshot
from forewarn.settings import DetectorSettings, SecuritySettings, Settings

from .conftest import WALL, recovery_config, run_one_worker
from .kafka_process import plain_producer, probe, start_dataflow
from .test_log_patterns import Messages, as_messages, log_pattern_detections, run_flow, scenario

# In every payments line's template ("GET /api/bookings/<*> 200 in <*> ms"): the miner's state.
MARKER = b"bookings"


def _keyed(*keys: str) -> Settings:
    return Settings(security=SecuritySettings(storage_keys=list(keys)))


def _recovery_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def _aborted_then_resumed(tmp_path: Path, first: Settings, second: Settings) -> tuple[Messages, Path]:
    messages: list[Any] = as_messages(scenario())
    messages.insert(140, TestingSource.ABORT())
    detections: Messages = []

    def flow(settings: Settings) -> Dataflow:
        sinks = FlowSinks(TestingSink(detections), TestingSink([]))
        return build_flow(settings, TestingSource(messages), sinks, clock=lambda: WALL)

    (tmp_path / "recovery").mkdir()
    recovery = recovery_config(tmp_path / "recovery")
    run_one_worker(flow(first), epoch_interval=timedelta(0), recovery_config=recovery)
    run_one_worker(flow(second), epoch_interval=timedelta(0), recovery_config=recovery)
    return detections, tmp_path / "recovery"


@pytest.mark.unit
def test_seal_and_open_round_trip_bound_to_the_step() -> None:
    cipher = FieldCipher(parse_keys([generate_key()]))
    sealed = seal_snapshot(cipher, "detect", {"series": "auth/latency_ms", "n": 3})
    assert isinstance(sealed, bytes) and b"auth" not in sealed
    assert open_snapshot(cipher, "detect", sealed) == {"series": "auth/latency_ms", "n": 3}
    assert seal_snapshot(cipher, "detect", None) is None  # no state yet: nothing to hide
    assert open_snapshot(None, "detect", b"\x80plain pickle") == b"\x80plain pickle"  # from before a key
    with pytest.raises(StorageKeyError, match="moved from elsewhere"):
        open_snapshot(cipher, "forecast", sealed)  # another step's snapshot does not open here
    with pytest.raises(StorageKeyError, match="no storage key is configured"):
        open_snapshot(None, "detect", sealed)
    with pytest.raises(StorageKeyError, match=f"storage key {cipher.current_id}, which is not configured"):
        open_snapshot(FieldCipher(parse_keys([generate_key()])), "detect", sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(StorageKeyError, match="altered"):
        open_snapshot(cipher, "detect", tampered)


@pytest.mark.integration
def test_restart_with_sealed_snapshots_and_a_rotated_key_restores_the_miners(tmp_path: Path) -> None:
    """Abort mid-stream with key A, resume with [B, A]: the same detections as an unbroken run."""
    baseline = run_flow(run_one_worker, as_messages(scenario()))
    old, new = generate_key(), generate_key()
    detections, recovery = _aborted_then_resumed(tmp_path, _keyed(old), _keyed(new, old))
    assert log_pattern_detections(detections) == log_pattern_detections(baseline)
    assert len(log_pattern_detections(baseline)) == 3  # the restored miner knew the templates
    assert MARKER not in _recovery_bytes(recovery)


@pytest.mark.integration
def test_without_a_key_the_recovery_files_hold_the_log_text(tmp_path: Path) -> None:
    """The control for the test above: the marker really is in an unsealed snapshot."""
    _, recovery = _aborted_then_resumed(tmp_path, Settings(), Settings())
    assert MARKER in _recovery_bytes(recovery)


@pytest.mark.integration
def test_sealed_snapshots_without_the_key_stop_the_flow_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no storage key is configured"):
        _aborted_then_resumed(tmp_path, _keyed(generate_key()), Settings())


@pytest.mark.integration
@pytest.mark.slow
def test_forewarn_run_restarts_on_sealed_snapshots(kafka_settings: Settings, tmp_path: Path) -> None:
    """The real process, SIGINT, restart on the same recovery dir with a rotated key ring.

    Discriminating as its unsealed twin in test_kafka_dataflow.py: only 3 slow probes come after the
    restart; a fresh latency detector is still warming up (10 samples) and stays silent, the
    restored one (12 samples) alerts. The log line's text must not be readable in the recovery files.
    """
    old, new = generate_key(), generate_key()
    settings = kafka_settings.model_copy(
        update={
            "detector": DetectorSettings(model="zscore"),
            "security": SecuritySettings(storage_keys=[old]),
        }
    )
    recovery = tmp_path / "recovery"
    start = datetime.now(UTC) - timedelta(seconds=60)
    topics = settings.topics

    def send(topic: str, docs: list[bytes]) -> None:
        producer = plain_producer(settings)
        for doc in docs:
            producer.send(topic, key=b"auth", value=doc)
        producer.flush()
        producer.close()

    def slow(i: int) -> bytes:
        doc = json.loads(probe("auth", start + timedelta(seconds=i), True))
        return json.dumps({**doc, "latency_ms": 2000.0}).encode()

    log_line = {
        "kind": "log",
        "service": "auth",
        "level": "INFO",
        "message": "zebrafish ledger reconciled",
        "timestamp": start.isoformat(),
    }
    with start_dataflow(settings, tmp_path, "--recovery-dir", str(recovery)) as first:
        send(topics.logs, [json.dumps(log_line).encode()])
        send(topics.probes, [probe("auth", start + timedelta(seconds=i), True) for i in range(12)])
        assert first.wait_for_metric("forewarn_pipeline_events_total", 13) == 13
        time.sleep(1.5)  # let an epoch close so the snapshot is written
    assert b"zebrafish" not in _recovery_bytes(recovery)

    rotated = settings.model_copy(update={"security": SecuritySettings(storage_keys=[new, old])})
    with start_dataflow(rotated, tmp_path, "--recovery-dir", str(recovery)) as second:
        send(topics.probes, [slow(12 + i) for i in range(3)])
        records = read_topic(settings.kafka.bootstrap_servers, topics.detections, timeout=60, max_messages=1)
        assert [Detection.model_validate_json(r.value).series for r in records] == ["auth/latency_ms"]
        assert second.metric("forewarn_pipeline_events_total") == 3  # the first 13 were not re-read
