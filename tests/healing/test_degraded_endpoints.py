"""A notification receiver or the service's admin API is down, then back: forewarn degrades and recovers
without a restart.

Real processes: the ``forewarn respond`` process, a real webhook receiver and a real admin server,
each started late on a port forewarn was already configured with (before that, the port is closed).
- Receiver down: the notifications fail, are queued, and each is delivered once the receiver is up.
- Admin API down: the heal fails (admin unreachable), a human is paged at once; once the API is up,
  the next incident heals, with the same process.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forewarn.kafka.io import make_producer, read_topic
from forewarn.settings import Settings
from tests.factories import make_detection
from tests.fault_report import record

from .conftest import HttpReceiver, free_port
from .crash_rig import AdminServer, responder_env, start_responder, wait_for, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _send(settings: Settings, services: list[str], reason: str) -> None:
    producer = make_producer(settings)
    now = datetime.now(UTC)
    for i, service in enumerate(services):
        detection = make_detection(service, now + timedelta(milliseconds=i), reason=f"{reason} {service}")
        producer.send(settings.topics.detections, key=service, value=detection.to_json_bytes())
    producer.flush(timeout=30)
    producer.close()


def _incidents(settings: Settings) -> set[str]:
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.incidents, timeout=1)
    return {json.loads(r.value)["service"] for r in records}


def test_notifications_queue_while_the_receiver_is_down_and_go_out_once_it_is_back(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    admin = AdminServer()
    hook: HttpReceiver | None = None
    responder = None
    services = [f"svc-{k}" for k in range(6)]
    try:
        config = write_config(tmp_path / "healing.yaml", f"http://127.0.0.1:{port}/hook")
        responder = start_responder(
            responder_env(kafka_settings, tmp_path, config, admin.url), tmp_path / "r.log"
        )
        _send(kafka_settings, services, "tell-me")
        wait_for(lambda: _incidents(kafka_settings) >= set(services), 60, "the incidents", responder)
        time.sleep(3.0)  # down for a while: the first retries fail too
        assert responder.alive()
        hook = HttpReceiver(port=port)
        back = time.monotonic()
        wait_for(lambda: len(hook.received) >= len(services), 60, "the queued notifications", responder)
        recovered = time.monotonic() - back
        time.sleep(3.0)  # room for a repeat
        assert responder.alive()  # no restart was needed
    finally:
        if responder is not None:
            responder.stop()
        admin.close()
        if hook is not None:
            hook.close()
    noted = sorted(r["json"]["payload"]["source"] for r in hook.received)
    record(
        "notification receiver down, then back",
        events_sent=len(services),
        accounted_for=len(set(noted)),
        actions=len(noted),
        duplicates=len(noted) - len(set(noted)),
        recovered_in_s=recovered,
    )
    assert noted == services  # every notification, once


def test_a_heal_against_a_down_admin_api_escalates_and_the_next_heals_once_it_is_back(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    hook = HttpReceiver()
    admin: AdminServer | None = None
    responder = None
    try:
        config = write_config(tmp_path / "healing.yaml", f"{hook.url}/hook", escalate_to_hook=True)
        env = responder_env(kafka_settings, tmp_path, config, f"http://127.0.0.1:{port}")
        responder = start_responder(env, tmp_path / "r.log")
        _send(kafka_settings, ["svc-a"], "heal-me")
        wait_for(lambda: len(hook.received) >= 1, 60, "the page about the failed heal", responder)
        page = hook.received[0]["json"]["payload"]["summary"]
        admin = AdminServer(port=port)
        back = time.monotonic()
        _send(kafka_settings, ["svc-b"], "heal-me")
        wait_for(lambda: len(admin.calls) >= 1, 60, "the heal once the admin API is back", responder)
        recovered = time.monotonic() - back
        time.sleep(2.0)
        assert responder.alive()
    finally:
        if responder is not None:
            responder.stop()
        hook.close()
        if admin is not None:
            admin.close()
    actions = [
        json.loads(r.value)
        for r in read_topic(kafka_settings.kafka.bootstrap_servers, kafka_settings.topics.actions, timeout=2)
    ]
    final = {a["service"]: a["status"] for a in actions if a["action"] == "clear-cache"}
    pages = [r for r in hook.received if r["json"].get("event_action") == "trigger"]
    record(
        "service admin API down, then back",
        events_sent=2,
        accounted_for=len(final),
        actions=len(admin.calls) if admin else 0,
        duplicates=len(admin.calls) - 1 if admin else 0,
        recovered_in_s=recovered,
        escalations=len(pages),
    )
    assert final == {"svc-a": "failed", "svc-b": "succeeded"}
    assert "unreachable" in page and "svc-a" in page
    assert len(pages) == 1  # the failed heal paged once; the good one did not
    assert [c.verb for c in admin.calls] == ["clear-cache"]  # svc-b only: svc-a was not retried blindly
