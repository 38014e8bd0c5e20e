"""The watchdog's rules on numbers, and its alerter's fire-once / resolve-once behaviour."""

from __future__ import annotations

import pytest

from forewarn.healing.errors import NotifyError
from forewarn.healing.notify.message import Notification
from forewarn.watchdog import checks
from forewarn.watchdog.alerter import Alerter

EXPOSITION = """# HELP forewarn_heartbeat_timestamp_seconds Wall clock of each component's last heartbeat.
# TYPE forewarn_heartbeat_timestamp_seconds gauge
forewarn_heartbeat_timestamp_seconds{component="responder"} 1000.0
"""


@pytest.mark.unit
def test_heartbeat_findings() -> None:
    beats = checks.heartbeats_in(EXPOSITION)
    assert beats == {"responder": 1000.0}
    assert checks.heartbeat("responder", beats, 1010.0, 30.0).ok
    stale = checks.heartbeat("responder", beats, 1100.0, 30.0)
    assert not stale.ok and "100 s ago" in stale.summary
    assert not checks.heartbeat("responder", None, 1000.0, 30.0, "ConnectError").ok
    assert not checks.heartbeat("responder", {}, 1000.0, 30.0).ok


@pytest.mark.unit
def test_lag_and_event_age_findings() -> None:
    assert checks.lag("g", {"a": 3, "b": 2}, 5).ok
    behind = checks.lag("g", {"a": 4, "b": 2}, 5)
    assert not behind.ok and "6 messages behind" in behind.summary
    assert not checks.lag("g", None, 5, "NoBrokersAvailable").ok
    assert checks.event_age("t", 990.0, 1000.0, 60.0).ok
    assert not checks.event_age("t", 900.0, 1000.0, 60.0).ok
    assert not checks.event_age("t", None, 1000.0, 60.0).ok


class FlakyChannel:
    """A channel test double whose receiver is down until ``up`` (the real webhook is tested live)."""

    name = "flaky"

    def __init__(self) -> None:
        self.up = False
        self.sent: list[str] = []
        self.resolved: list[str] = []

    def send(self, note: Notification, extra: list[Notification] | None = None) -> None:
        if not self.up:
            raise NotifyError("down")
        self.sent.append(note.group_key)

    def resolve(self, group_key: str) -> None:
        if not self.up:
            raise NotifyError("down")
        self.resolved.append(group_key)


@pytest.mark.unit
def test_alerter_fires_once_resolves_once_and_retries_a_down_channel() -> None:
    channel = FlakyChannel()
    alerter = Alerter([channel])
    bad = checks.Finding("heartbeat/responder", False, "down")
    assert alerter.observe([bad]) == [("fire", bad)]
    assert alerter.observe([bad]) == []  # still failing: no second alert
    channel.up = True
    alerter.observe([bad])  # the held alert goes out once the receiver is back
    assert channel.sent == ["forewarn-watchdog/heartbeat/responder"]
    good = checks.Finding("heartbeat/responder", True, "fresh")
    assert alerter.observe([good, good]) == [("resolve", good)]
    assert channel.resolved == ["forewarn-watchdog/heartbeat/responder"]
