"""kill -9 of the dataflow mid-stream, restart on its recovery store: every event's effect, counted.

Issue #15, first fault. Real broker, real ``forewarn run`` processes. Each of 300 services sends two
failed probes, and only the pair makes a detection (2 consecutive failures), so a detection is the
visible effect of both events; each bad input's effect is its dead letter. Phase 1 (every service's
first failure, bad inputs) is snapshotted; phase 2 (every second failure, more bad inputs) streams
while the process is killed and restarted. Then every detection and dead letter must be there
(counted by id), and the restart must not have re-read phase 1: a service whose second failure only
the new process saw alerts only because its first failure came back from the snapshot (model state
restored). Output is at-least-once: duplicates share the id of their first copy and are counted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forewarn.events import DeadLetter, Detection
from forewarn.kafka.io import read_topic
from forewarn.settings import Settings

from ..fault_report import record
from .kafka_process import plain_producer, probe, snapshotted_offsets, start_dataflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICES = [f"svc-{i:03d}" for i in range(300)]
BAD_PER_PHASE = 300
DEAD = "forewarn_pipeline_dead_letters_total"
EVENTS = "forewarn_pipeline_events_total"


def _outputs(settings: Settings) -> tuple[Counter[str], Counter[str]]:
    """Detection ids and dead-letter ids in their topics now, with how often each came."""
    servers, topics = settings.kafka.bootstrap_servers, settings.topics
    detections = read_topic(servers, topics.detections, timeout=30)
    letters = read_topic(servers, topics.dead_letter, timeout=30)
    return (
        Counter(Detection.model_validate_json(r.value).id for r in detections),
        Counter(DeadLetter.model_validate_json(r.value).id for r in letters),
    )


def _store_of(lines: list[str]) -> Path:
    """The recovery store a ``forewarn run`` announced."""
    (store,) = (line.split("recovery store: ")[1].split()[0] for line in lines if "recovery store: " in line)
    return Path(store)


def test_kill_9_mid_stream_loses_no_event_and_restores_model_state(
    kafka_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No recovery flag or setting: the store the dataflow keeps by default is what restores it."""
    topics = kafka_settings.topics
    monkeypatch.setenv("FOREWARN_CACHE_DIR", str(tmp_path / "cache"))  # where the default store goes
    start = datetime.now(UTC) - timedelta(seconds=120)
    producer = plain_producer(kafka_settings)

    def failed(service: str, second: int) -> bytes:
        return probe(service, start + timedelta(seconds=second), False)

    phase2_sent = threading.Event()

    def stream_phase_2() -> None:  # ~4 s of input, running across the kill and the restart
        for i, service in enumerate(SERVICES):
            producer.send(topics.probes, key=service.encode(), value=failed(service, 1))
            producer.send(topics.logs, value=b"{phase 2 bad %d" % i)
            if i % 10 == 9:
                producer.flush()
                time.sleep(0.13)
        producer.flush()
        phase2_sent.set()

    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    with start_dataflow(kafka_settings, tmp_path / "first") as first:
        recovery = _store_of(first.lines)
        assert recovery.parent == tmp_path / "cache" / "recovery"
        for i, service in enumerate(SERVICES):
            producer.send(topics.probes, key=service.encode(), value=failed(service, 0))
            producer.send(topics.logs, value=b"{phase 1 bad %d" % i)
        producer.flush()
        assert first.wait_for_metric(EVENTS, len(SERVICES)) == len(SERVICES)
        deadline = time.monotonic() + 60
        while snapshotted_offsets(recovery, topics.probes) < len(SERVICES) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert snapshotted_offsets(recovery, topics.probes) == len(SERVICES), "phase 1 never snapshotted"
        assert not list(_outputs(kafka_settings)[0]), "a single failure must not alert"

        sender = threading.Thread(target=stream_phase_2, daemon=True)
        sender.start()
        # mid-stream: the process has read part of phase 2, and more is on its way
        assert first.wait_for_metric(DEAD, BAD_PER_PHASE + 60) >= BAD_PER_PHASE + 60
        first.kill()
        killed = time.monotonic()

    with start_dataflow(kafka_settings, tmp_path / "second") as second:
        assert any(f"recovery store: {recovery}" in line for line in second.lines)  # the same store
        assert phase2_sent.wait(60)
        sender.join(5)
        producer.close()
        expected_letters = 2 * BAD_PER_PHASE
        deadline = time.monotonic() + 60
        detections, letters = _outputs(kafka_settings)
        while (
            len(detections) < len(SERVICES) or len(letters) < expected_letters
        ) and time.monotonic() < deadline:
            time.sleep(0.5)
            detections, letters = _outputs(kafka_settings)
        recovered_in = time.monotonic() - killed
        reread_probes = second.metric(EVENTS, {"kind": "probe"})

    sent = 2 * len(SERVICES) + expected_letters
    accounted = 2 * len(detections) + len(letters)  # a detection is the effect of its 2 probes
    duplicates = sum(detections.values()) - len(detections) + sum(letters.values()) - len(letters)
    record(
        "kill -9 of the dataflow mid-stream, restart on the recovery store",
        events_sent=sent,
        accounted_for=accounted,
        duplicates=duplicates,
        recovered_in_s=recovered_in,
        probes_reread_after_restart=int(reread_probes),
    )
    assert len(detections) == len(SERVICES), f"{len(SERVICES) - len(detections)} detections lost"
    assert len(letters) == expected_letters, f"{expected_letters - len(letters)} dead letters lost"
    assert accounted == sent
    # Phase 1 was snapshotted: the restart read phase-2 probes only, so the services whose second
    # failure it read alerted from restored state (a fresh detector would need two failures).
    assert 0 < reread_probes <= len(SERVICES)
