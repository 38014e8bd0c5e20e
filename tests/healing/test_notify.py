"""Notifications reach real receivers (HTTP and SMTP), grouped, de-duplicated and silenced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forewarn.healing.clock import ManualClock
from forewarn.healing.config import ChannelConfig, NotificationConfig, Silence
from forewarn.healing.notify import Notification, NotificationRouter, build_channels

from .conftest import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.integration


def _note(
    title: str = "memory_leak on overall: needs a human", group: str = "inc-1", **kw: object
) -> Notification:
    values: dict[str, object] = {
        "title": title,
        "summary": "restart failed validation",
        "service": "overall",
        "severity": "critical",
        "group_key": group,
        "issue_class": "memory_leak",
        "actions": [{"action": "restart-service", "status": "not_validated", "detail": "still leaking"}],
        "report": "Memory grew 2 MiB/s since 10:02.",
        "created_at": 1_800_000_000.0,
    }
    values.update(kw)
    return Notification(**values)  # type: ignore[arg-type]


def _router(
    receiver: HttpReceiver, smtp: SmtpReceiver, clock: ManualClock, **kw: object
) -> NotificationRouter:
    channels = {
        "slack": ChannelConfig(type="slack", url=f"{receiver.url}/slack"),
        "pd": ChannelConfig(type="webhook", url=f"{receiver.url}/pd", routing_key="R"),
        "mail": ChannelConfig(
            type="email", host="127.0.0.1", port=smtp.port, sender="fw@test", to=["a@test"]
        ),
    }
    config = NotificationConfig.model_validate(
        {"channels": channels, "group_window_seconds": 300, "dedup_window_seconds": 900, **kw}
    )
    return NotificationRouter(config, build_channels(channels), clock)


def test_each_channel_delivers_its_own_format(receiver: HttpReceiver, smtp: SmtpReceiver) -> None:
    clock = ManualClock()
    router = _router(receiver, smtp, clock)
    deliveries = router.notify(_note(), ["slack", "pd", "mail"])
    assert [d.status for d in deliveries] == ["sent", "sent", "sent"]
    slack = next(r["json"] for r in receiver.received if r["path"] == "/slack")
    kinds = [b["type"] for b in slack["blocks"]]
    assert kinds[0] == "header" and "section" in kinds and kinds[-1] == "context"
    assert any("restart-service" in b.get("text", {}).get("text", "") for b in slack["blocks"])
    pd = next(r["json"] for r in receiver.received if r["path"] == "/pd")
    assert pd["routing_key"] == "R" and pd["event_action"] == "trigger" and pd["dedup_key"] == "inc-1"
    assert set(pd["payload"]) >= {"summary", "source", "severity", "timestamp", "custom_details"}
    [mail] = smtp.messages
    assert mail["To"] == "a@test" and "[critical]" in str(mail["Subject"])
    assert "restart-service" in mail.get_payload()


def test_duplicates_dropped_updates_grouped_into_one_digest(
    receiver: HttpReceiver, smtp: SmtpReceiver
) -> None:
    clock = ManualClock()
    router = _router(receiver, smtp, clock)
    assert router.notify(_note(), ["slack"])[0].status == "sent"
    clock.advance(10)
    assert router.notify(_note(), ["slack"])[0].status == "duplicate"
    for i in range(3):
        clock.advance(10)
        assert router.notify(_note(title=f"update {i}"), ["slack"])[0].status == "grouped"
    assert router.notify(_note(group="inc-2"), ["slack"])[0].status == "sent", "another incident is not held"
    assert len(receiver.received) == 2
    assert router.flush() == [], "the group window has not ended yet"
    clock.advance(300)
    [digest] = router.flush()
    assert digest.status == "sent" and digest.grouped == 3
    last = receiver.received[-1]["json"]
    assert "update 2" in last["blocks"][0]["text"]["text"]
    assert any("2 grouped update(s)" in b.get("text", {}).get("text", "") for b in last["blocks"])


def test_silences_drop_matching_notifications(receiver: HttpReceiver, smtp: SmtpReceiver) -> None:
    clock = ManualClock()
    until = datetime.fromtimestamp(clock.now(), tz=UTC) + timedelta(hours=1)
    router = _router(
        receiver, smtp, clock, silences=[Silence(service="overall", until=until, reason="planned")]
    )
    assert router.notify(_note(), ["slack", "mail"])[0].status == "silenced"
    assert router.notify(_note(service="auth", group="g2"), ["slack"])[0].status == "sent"
    clock.advance(3601)
    assert router.notify(_note(group="g3"), ["slack"])[0].status == "sent", "the silence expired"
    assert smtp.messages == []


def test_a_failing_receiver_is_reported_not_raised(smtp: SmtpReceiver) -> None:
    broken = HttpReceiver(status=500)
    try:
        clock = ManualClock()
        router = _router(broken, smtp, clock)
        [delivery] = router.notify(_note(), ["slack"])
        assert delivery.status == "failed" and "500" in delivery.detail
    finally:
        broken.close()
