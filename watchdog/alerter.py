"""Fire once when a check turns bad, resolve once when it turns good: through channels of its own.

Why not the healing router: it is the responder's, and the responder may be what failed. The
watchdog builds its own webhook and SMTP channels from ``watchdog`` settings and keeps its own state.
A failed delivery is retried at the next round, so an alert about a down component still goes out
once the receiver is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from forewarn.healing.errors import NotifyError
from forewarn.healing.notify.channels import Channel, EmailChannel, WebhookChannel
from forewarn.healing.notify.message import Notification
from forewarn.settings import WatchdogSettings
from forewarn.watchdog.checks import Finding

__all__ = ["Alerter", "channels_from_settings"]

log = logging.getLogger(__name__)


def channels_from_settings(settings: WatchdogSettings) -> list[Channel]:
    channels: list[Channel] = []
    url = settings.webhook_url.get_secret_value()
    if url:
        channels.append(
            WebhookChannel("watchdog-webhook", url, settings.webhook_routing_key.get_secret_value())
        )
    if settings.email_host and settings.email_to:
        channels.append(
            EmailChannel(
                "watchdog-email",
                settings.email_host,
                settings.email_port,
                settings.email_sender,
                settings.email_to,
            )
        )
    return channels


class Alerter:
    """Tracks which findings are firing; sends trigger on ok -> bad and resolve on bad -> ok."""

    def __init__(self, channels: list[Channel], clock: Callable[[], float] = time.time) -> None:
        self.channels = channels
        self.clock = clock
        self.firing: dict[str, Finding] = {}
        self._unsent: dict[tuple[str, str], Finding] = {}  # (channel, key) -> what it still must hear
        self.sent = 0

    def observe(self, findings: Iterable[Finding]) -> list[tuple[str, Finding]]:
        """Feed one round; returns the (``"fire"`` | ``"resolve"``, finding) transitions."""
        changes: list[tuple[str, Finding]] = []
        for finding in findings:
            was = finding.key in self.firing
            if not finding.ok and not was:
                self.firing[finding.key] = finding
                changes.append(("fire", finding))
            elif finding.ok and was:
                del self.firing[finding.key]
                changes.append(("resolve", finding))
        for change, finding in changes:
            log.warning("watchdog %s: %s", change, finding.summary)
            for channel in self.channels:
                self._unsent[(channel.name, finding.key)] = finding
        self.deliver()
        return changes

    def deliver(self) -> None:
        """Send what each channel has not heard yet (the latest state per subject)."""
        by_name = {c.name: c for c in self.channels}
        for (name, key), finding in list(self._unsent.items()):
            channel = by_name[name]
            try:
                if finding.ok:
                    resolve = getattr(channel, "resolve", None)
                    if callable(resolve):
                        resolve(_group(key))
                    else:
                        channel.send(_note(finding))
                else:
                    channel.send(_note(finding))
            except NotifyError as exc:
                log.warning("watchdog alert to %s failed (retried next round): %s", name, exc)
                continue
            del self._unsent[(name, key)]
            self.sent += 1


def _group(key: str) -> str:
    return f"forewarn-watchdog/{key}"


def _note(finding: Finding) -> Notification:
    state = "back to normal" if finding.ok else "failing"
    return Notification(
        title=f"forewarn watchdog: {finding.key} {state}",
        summary=finding.summary,
        service="forewarn",
        severity="info" if finding.ok else "critical",
        group_key=_group(finding.key),
        issue_class="forewarn_self",
        created_at=time.time(),
    )
