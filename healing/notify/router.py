"""Silences, de-duplication and grouping in front of the channels.

Why: a flapping fault must not page someone forty times. Per channel and group (incident): the
first notification goes out at once; later ones within ``group_window_seconds`` are held and sent
as one digest by ``flush()``; an identical notification (same group, level, title) within
``dedup_window_seconds`` is dropped; a matching silence drops it too. Every decision is returned as
a ``Delivery`` so the executor can audit it.

``routes`` (config ``notifications.routes``) pick channels by service, severity, issue class and
labels for what no escalation ladder covers; ``resolve`` closes a group on the channels that can
(PagerDuty), once, on those that were told about it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from forewarn.healing.clock import Clock
from forewarn.healing.config import NotificationConfig, Silence
from forewarn.healing.errors import NotifyError
from forewarn.healing.notify.channels import Channel, Resolvable
from forewarn.healing.notify.message import Notification


@dataclass
class Delivery:
    channel: str
    status: str  # sent | failed | silenced | duplicate | grouped | unknown-channel | resolved
    title: str
    detail: str = ""
    grouped: int = 0


@dataclass
class _Group:
    opened_at: float
    held: list[Notification] = field(default_factory=list)


class NotificationRouter:
    def __init__(self, config: NotificationConfig, channels: dict[str, Channel], clock: Clock) -> None:
        self.config = config
        self.channels = channels
        self.clock = clock
        self.silences: list[Silence] = list(config.silences)
        self._sent: dict[tuple[str, str], float] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._lock = threading.Lock()

    def silence(self, silence: Silence) -> None:
        with self._lock:
            self.silences.append(silence)

    def _silenced(self, note: Notification, now: float) -> Silence | None:
        when = datetime.fromtimestamp(now, tz=UTC)
        for s in self.silences:
            if (
                s.until > when
                and s.service in ("*", note.service)
                and s.issue_class in ("*", note.issue_class)
            ):
                return s
        return None

    def notify(self, note: Notification, channel_names: list[str]) -> list[Delivery]:
        now = self.clock.now()
        out: list[Delivery] = []
        silence = self._silenced(note, now)
        for name in channel_names:
            if silence is not None:
                out.append(Delivery(name, "silenced", note.title, silence.reason))
                continue
            channel = self.channels.get(name)
            if channel is None:
                out.append(Delivery(name, "unknown-channel", note.title))
                continue
            with self._lock:
                seen = self._sent.get((name, note.dedup_key))
                if seen is not None and now - seen < self.config.dedup_window_seconds:
                    out.append(Delivery(name, "duplicate", note.title, f"same message {now - seen:.0f}s ago"))
                    continue
                self._sent[(name, note.dedup_key)] = now
                group = self._groups.get((name, note.group_key))
                if group is not None and now - group.opened_at < self.config.group_window_seconds:
                    group.held.append(note)
                    out.append(Delivery(name, "grouped", note.title, "held for the group digest"))
                    continue
                # A new window: anything still held from the last one goes out with this message.
                held = group.held if group is not None else []
                self._groups[(name, note.group_key)] = _Group(opened_at=now)
            out.append(self._send(channel, note, held or None, grouped=len(held)))
        return out

    def route(self, note: Notification) -> list[Delivery]:
        """Send ``note`` to the channels of every route that matches it (none: no deliveries)."""
        names = self.config.routed(note.service, note.severity, note.issue_class, note.labels)
        return self.notify(note, names) if names else []

    def resolve(self, group_key: str) -> list[Delivery]:
        """Close ``group_key`` on every resolvable channel that was sent something for it."""
        with self._lock:
            told = [name for (name, key) in self._groups if key == group_key]
            for name in told:
                del self._groups[(name, group_key)]
        out: list[Delivery] = []
        for name in told:
            channel = self.channels.get(name)
            if not isinstance(channel, Resolvable):
                continue
            try:
                channel.resolve(group_key)
            except NotifyError as exc:
                out.append(Delivery(name, "failed", f"resolve {group_key}", str(exc)))
                continue
            out.append(Delivery(name, "resolved", f"resolve {group_key}"))
        return out

    def flush(self, force: bool = False) -> list[Delivery]:
        """Send a digest for every group whose window has ended (or all, with ``force``)."""
        now = self.clock.now()
        due: list[tuple[str, list[Notification]]] = []
        with self._lock:
            for (name, key), group in list(self._groups.items()):
                if group.held and (force or now - group.opened_at >= self.config.group_window_seconds):
                    due.append((name, group.held))
                    self._groups[(name, key)] = _Group(opened_at=now)
        out = []
        for name, held in due:
            channel = self.channels.get(name)
            if channel is not None:
                out.append(self._send(channel, held[-1], held[:-1] or None, grouped=len(held)))
        return out

    def _send(
        self, channel: Channel, note: Notification, extra: list[Notification] | None, grouped: int = 0
    ) -> Delivery:
        try:
            channel.send(note, extra)
        except NotifyError as exc:
            return Delivery(channel.name, "failed", note.title, str(exc), grouped)
        return Delivery(channel.name, "sent", note.title, "", grouped)


__all__ = ["Delivery", "NotificationRouter"]
