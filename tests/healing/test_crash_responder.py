"""``kill -9`` of the real ``forewarn respond`` mid-stream, then a restart: every incident handled once.

The stream: ``INCIDENTS`` services, each with three detections spread over the stream (so incidents
are open across the crash). Half ask for a heal (one admin call each, counted by a real HTTP admin
server), half match no policy and are routed to a real webhook receiver (one notification each). The
responder is SIGKILLed once it has made a few admin calls, restarted, and left to finish. Counted:
detections sent, detections found in the published incidents, admin calls, notifications, and how
many of those were second calls for the same incident.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forewarn.events import Detection
from forewarn.kafka.io import make_producer, read_topic
from forewarn.settings import Settings
from tests.factories import make_detection
from tests.fault_report import record

from .conftest import HttpReceiver
from .crash_rig import (
    AdminServer,
    kill_9,
    responder_env,
    start_responder,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _stream(services: int, rounds: int) -> list[Detection]:
    """``rounds`` detections per service, round-robin, 2 s of event time apart within a service."""
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    out = []
    for r in range(rounds):
        for k in range(services):
            reason = f"heal-me svc-{k:02d}" if k % 2 == 0 else f"tell-me svc-{k:02d}"
            at = t0 + timedelta(seconds=2 * r, milliseconds=k)
            out.append(make_detection(f"svc-{k:02d}", at, kind="failure", reason=reason))
    return out


def _send(settings: Settings, detections: list[Detection], pace_seconds: float) -> None:
    producer = make_producer(settings)
    for detection in detections:
        producer.send(settings.topics.detections, key=detection.service, value=detection.to_json_bytes())
        producer.flush(timeout=30)
        time.sleep(pace_seconds)
    producer.close()


def _run(
    settings: Settings, tmp_path: Path, services: int, rounds: int, kill_after_calls: int, pace_seconds: float
) -> None:
    admin = AdminServer(delay_seconds=0.15)  # slow enough that the kill lands mid-stream
    hook = HttpReceiver()
    responder = None
    try:
        config = write_config(tmp_path / "healing.yaml", f"{hook.url}/hook")
        env = responder_env(settings, tmp_path, config, admin.url)
        detections = _stream(services, rounds)
        responder = start_responder(env, tmp_path / "responder-1.log")
        # A paced stream: small batches, so offsets are committed between the detections of one
        # incident and the crash cuts incidents that are open on both sides of it.
        log = tmp_path / "responder-1.log"
        ready = lambda: "responder reading" in log.read_text(errors="replace")  # noqa: E731
        wait_for(ready, 60, "the consumer", responder)
        sender = threading.Thread(target=_send, args=(settings, detections, pace_seconds), daemon=True)
        sender.start()
        wait_for(lambda: len(admin.calls) >= kill_after_calls, 60, "the first admin calls", responder)
        kill_9(responder)
        calls_at_kill, notes_at_kill = len(admin.calls), len(hook.received)

        heal_services = {f"svc-{k:02d}" for k in range(0, services, 2)}
        note_services = {f"svc-{k:02d}" for k in range(1, services, 2)}
        restarted = time.monotonic()
        responder = start_responder(env, tmp_path / "responder-2.log")

        def done() -> bool:
            called = {_service(c.body) for c in admin.calls}
            return heal_services <= called and note_services <= {_noted(r) for r in hook.received}

        sender.join(timeout=120)
        wait_for(done, 80, "every incident handled after the restart", responder)
        recovered = time.monotonic() - restarted
        time.sleep(3.0)  # room for a late second call or notification to show up
        responder.stop()
        assert responder.exit_code() == 0, responder.tail(40)

        incidents = [
            json.loads(r.value)
            for r in read_topic(settings.kafka.bootstrap_servers, settings.topics.incidents, timeout=5)
        ]
    finally:
        if responder is not None:
            responder.stop()
        admin.close()
        hook.close()

    sent_ids = {d.id for d in detections}
    seen_ids = {d["id"] for i in incidents for d in i["detections"]}
    incident_ids: dict[str, set[str]] = {i["service"]: set() for i in incidents}
    for incident in incidents:
        incident_ids[incident["service"]].add(incident["id"])
    calls = Counter(_service(c.body) for c in admin.calls)
    notes = Counter(_noted(r) for r in hook.received)
    duplicates = sum(n - 1 for n in calls.values()) + sum(n - 1 for n in notes.values())
    record(
        "kill -9 responder mid-stream",
        events_sent=len(detections),
        accounted_for=len(sent_ids & seen_ids),
        actions=len(admin.calls),
        duplicates=duplicates,
        recovered_in_s=recovered,
        notifications=len(hook.received),
        incidents=len({i["id"] for i in incidents}),
        admin_calls_before_kill=calls_at_kill,
        notifications_before_kill=notes_at_kill,
    )
    assert sent_ids <= seen_ids  # every detection's effect appears in a published incident
    assert {s: len(ids) for s, ids in incident_ids.items() if len(ids) != 1} == {}  # one incident each
    assert dict(calls) == dict.fromkeys(heal_services, 1)  # each heal once, none twice
    assert dict(notes) == dict.fromkeys(note_services, 1)  # each notification once


def _noted(request: dict[str, Any]) -> str:
    """The service a webhook (PagerDuty Events v2 shaped) notification was about."""
    body = request["json"]
    return (
        f"{body['event_action']}:{body['payload']['source']}"
        if body["event_action"] != "trigger"
        else str(body["payload"]["source"])
    )


def _service(body: dict[str, object]) -> str:
    """The service an admin call was for, from the reason forewarn sends with it."""
    reason = str(body.get("reason", ""))  # "crash_heal on svc-04: heal-me svc-04"
    return reason.split(" on ", 1)[1].split(":", 1)[0]


def test_kill_9_of_the_responder_mid_stream_heals_and_notifies_each_incident_once(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    _run(kafka_settings, tmp_path, services=20, rounds=3, kill_after_calls=4, pace_seconds=0.08)


@pytest.mark.long
def test_kill_9_of_the_responder_on_a_long_stream(kafka_settings: Settings, tmp_path: Path) -> None:
    _run(kafka_settings, tmp_path, services=200, rounds=3, kill_after_calls=40, pace_seconds=0.05)
