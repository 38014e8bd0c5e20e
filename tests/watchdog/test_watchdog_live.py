"""``forewarn watchdog`` against real processes: the responder stops, the watchdog alerts; it comes back,
the alerts resolve.

Real parts: the broker, ``forewarn respond`` (its ``/metrics`` heartbeat on a fixed port), ``forewarn
watchdog`` (its own process), and a real webhook receiver that only the watchdog talks to. While the
responder is down, detections pile up in its consumer group, so both the heartbeat and the lag
checks fire; after the restart the responder catches up and both resolve, each exactly once.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from forewarn.dev.processes import ManagedProcess
from forewarn.kafka.io import make_producer
from forewarn.settings import Settings
from tests.factories import make_detection
from tests.fault_report import record
from tests.healing.conftest import HttpReceiver, free_port
from tests.healing.crash_rig import (
    AdminServer,
    kill_9,
    responder_env,
    start_responder,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _send(settings: Settings, services: list[str]) -> None:
    producer = make_producer(settings)
    now = datetime.now(UTC)
    for i, service in enumerate(services):
        detection = make_detection(service, now + timedelta(milliseconds=i), reason=f"tell-me {service}")
        producer.send(settings.topics.detections, key=service, value=detection.to_json_bytes())
    producer.flush(timeout=30)
    producer.close()


def _answers(url: str) -> bool:
    try:
        return "forewarn_heartbeat_timestamp_seconds{" in httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return False


def _events(hook: HttpReceiver) -> Counter[tuple[str, str]]:
    """(event_action, dedup_key) -> how many times the watchdog sent it."""
    return Counter((r["json"]["event_action"], r["json"]["dedup_key"]) for r in hook.received)


def test_the_watchdog_alerts_when_the_responder_stops_and_resolves_when_it_is_back(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    admin = AdminServer()
    responder_hook, watchdog_hook = HttpReceiver(), HttpReceiver()
    port = free_port()
    config = write_config(tmp_path / "healing.yaml", f"{responder_hook.url}/hook")
    env = responder_env(kafka_settings, tmp_path, config, admin.url)
    env["FOREWARN_RESPONDER__METRICS_PORT"] = str(port)
    group = env["FOREWARN_RESPONDER__CONSUMER_GROUP"]
    watchdog_env = {
        **env,
        "FOREWARN_WATCHDOG__INTERVAL_SECONDS": "0.5",
        "FOREWARN_WATCHDOG__TARGETS": json.dumps({"responder": f"http://127.0.0.1:{port}/metrics"}),
        "FOREWARN_WATCHDOG__HEARTBEAT_MAX_AGE_SECONDS": "3",
        "FOREWARN_WATCHDOG__CONSUMER_GROUPS": json.dumps([group]),
        "FOREWARN_WATCHDOG__MAX_LAG_MESSAGES": "5",
        "FOREWARN_WATCHDOG__WEBHOOK_URL": f"{watchdog_hook.url}/alerts",
    }
    heartbeat_key = "forewarn-watchdog/heartbeat/responder"
    lag_key = f"forewarn-watchdog/lag/{group}"
    responder = start_responder(env, tmp_path / "responder-1.log")
    watchdog = ManagedProcess(
        "watchdog",
        [sys.executable, "-m", "forewarn", "watchdog"],
        tmp_path / "watchdog.log",
        env=watchdog_env,
    )
    sent = 12
    try:
        wait_for(
            lambda: _answers(f"http://127.0.0.1:{port}/metrics"), 60, "the responder's /metrics", responder
        )
        watchdog.start()
        log = tmp_path / "watchdog.log"
        wait_for(
            lambda: "1 checks, 0 failing" in log.read_text() or "2 checks, 0 failing" in log.read_text(),
            60,
            "a healthy round",
            watchdog,
        )
        assert watchdog_hook.received == []  # nothing to say while all is well

        kill_9(responder)  # the component stops
        stopped = time.monotonic()
        _send(kafka_settings, [f"svc-{i}" for i in range(sent)])  # work piles up for the stopped responder
        wait_for(
            lambda: {("trigger", heartbeat_key), ("trigger", lag_key)} <= set(_events(watchdog_hook)),
            60,
            "the watchdog's alerts",
            watchdog,
        )
        alerted = time.monotonic() - stopped

        restarted = time.monotonic()
        responder = start_responder(env, tmp_path / "responder-2.log")
        wait_for(
            lambda: {("resolve", heartbeat_key), ("resolve", lag_key)} <= set(_events(watchdog_hook)),
            60,
            "the alerts to resolve",
            watchdog,
        )
        recovered = time.monotonic() - restarted
        time.sleep(2.0)  # room for a repeated alert to show up
        assert watchdog.alive()
    finally:
        watchdog.stop()  # first: a responder stopped under its eyes would rightly alert again
        responder.stop()
        admin.close()
        responder_hook.close()
        watchdog_hook.close()
    events = _events(watchdog_hook)
    handled = {
        r["json"]["payload"]["source"]
        for r in responder_hook.received
        if r["json"]["event_action"] == "trigger"
    }
    record(
        "responder stopped (watchdog)",
        events_sent=sent,
        accounted_for=len(handled),
        actions=sum(events.values()),
        duplicates=sum(n - 1 for n in events.values()),
        recovered_in_s=recovered,
        alerted_seconds=round(alerted, 2),
    )
    assert events == {
        ("trigger", heartbeat_key): 1,
        ("resolve", heartbeat_key): 1,
        ("trigger", lag_key): 1,
        ("resolve", lag_key): 1,
    }
    assert handled == {f"svc-{i}" for i in range(sent)}  # the restarted responder caught up
