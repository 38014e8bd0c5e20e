"""The executor is killed in the middle of an action; on restart it finishes the step, never repeats it.

Real processes: the ``forewarn respond`` process is SIGKILLed (1) while its admin call is on the wire
(the admin server holds it), or (2) after the call answered, while validation is probing (the health
endpoint holds the probe). The restarted responder finds the step in the state store (the write-ahead
plan, status ``running`` or ``ran``) and validates it: healthy means succeeded; unhealthy means undo
what is known to have changed and escalate, saying the outcome of a cut call is unknown. Counted: the
admin calls per verb (the step's verb must be called once, ever), the undo calls, the notifications.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from forewarn.healing.audit import AuditLog, verify_log
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

FINAL = {"succeeded", "not_validated", "rolled_back", "failed"}


def _actions(settings: Settings) -> list[dict[str, Any]]:
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.actions, timeout=1)
    return [json.loads(r.value) for r in records]


@pytest.mark.parametrize(
    ("cut", "health_after", "expected"),
    [
        ("call", "ok", "succeeded"),  # in flight, the service is fine: validated, not repeated
        ("call", "down", "not_validated"),  # in flight, the service is not fine: escalated, not repeated
        ("validation", "down", "rolled_back"),  # answered, then unhealthy: the known change is undone
    ],
)
def test_a_step_cut_by_kill_9_is_validated_or_undone_never_repeated(
    kafka_settings: Settings, tmp_path: Path, cut: str, health_after: str, expected: str
) -> None:
    verb = "scale-resources"
    admin = AdminServer(hold_verbs={verb} if cut == "call" else set(), hold_health=cut == "validation")
    hook = HttpReceiver()
    responder = None
    try:
        step = {"action": verb, "params": {"replicas": 3}}
        config = write_config(tmp_path / "healing.yaml", f"{hook.url}/hook", step=step, escalate_to_hook=True)
        env = responder_env(kafka_settings, tmp_path, config, admin.url)
        responder = start_responder(env, tmp_path / "responder-1.log")
        detection = make_detection("svc-x", datetime.now(UTC), reason="heal-me svc-x")
        producer = make_producer(kafka_settings)
        producer.send(kafka_settings.topics.detections, key="svc-x", value=detection.to_json_bytes())
        producer.flush(timeout=30)
        producer.close()

        if cut == "call":
            wait_for(lambda: len(admin.calls_of(verb)) == 1, 60, "the admin call", responder)
        else:
            wait_for(lambda: len(admin.probes) >= 1, 60, "the validation probe", responder)
        kill_9(responder)
        admin.health["svc-x"] = health_after
        admin.release()  # the held request ends; its caller is gone
        restarted = time.monotonic()
        responder = start_responder(env, tmp_path / "responder-2.log")

        def final() -> list[dict[str, Any]]:
            return [a for a in _actions(kafka_settings) if a["action"] == verb and a["status"] in FINAL]

        wait_for(lambda: bool(final()), 60, "the recovered step on the actions topic", responder)
        recovered = time.monotonic() - restarted
        if expected != "succeeded":
            wait_for(lambda: bool(hook.received), 30, "the escalation", responder)
        time.sleep(2.0)  # room for a wrong second call to show up
        responder.stop()
    finally:
        if responder is not None:
            responder.stop()
        admin.close()
        hook.close()

    steps = final()
    calls = admin.calls_of(verb)
    undos = admin.calls_of("put-back")
    pages = [r["json"] for r in hook.received if r["json"].get("event_action") == "trigger"]
    record(
        f"kill -9 during the {cut} (service {health_after} after)",
        events_sent=1,
        accounted_for=len({s["id"] for s in steps}),
        actions=len(calls) + len(undos),
        duplicates=len(calls) - 1,
        recovered_in_s=recovered,
        status=steps[-1]["status"],
        undo_calls=len(undos),
        notifications=len(pages),
    )
    assert len(calls) == 1, [c.key for c in calls]  # the step ran once, ever
    assert [s["status"] for s in steps] == [expected]
    assert steps[0]["idempotency_key"] == calls[0].key
    if expected == "rolled_back":
        assert [u.key for u in undos] == [calls[0].key + ":undo"]  # the undo the service gave, once
    else:
        assert undos == []
    if expected == "succeeded":
        assert pages == []
    else:
        assert len(pages) == 1 and "svc-x" in pages[0]["payload"]["summary"]
        if cut == "call":
            assert "unknown" in pages[0]["payload"]["summary"]
    audit = AuditLog(tmp_path / "healing" / "audit.jsonl")
    events = [(r.event, r.outcome) for r in audit.records() if r.action == verb]
    assert events[0] == ("start", "started")  # the write-ahead line, before the call
    assert ("recovery", steps[0]["status"]) in events
    assert verify_log(audit.path).ok  # the hash chain holds across the crash
