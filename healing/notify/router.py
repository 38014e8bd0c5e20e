"""Silences, de-duplication and grouping in front of the channels.

Why: a flapping fault must not page someone forty times. Per channel and group (incident): the
first notification goes out at once; later ones within ``group_window_seconds`` are held and sent
as one digest by ``flush()``; an identical notification (same group, level, title) within
``dedup_window_seconds`` is dropped; a matching silence drops it too. Every decision is returned as
a ``Delivery`` so the executor can audit it.

``routes`` (config ``notifications.routes``) pick channels by service, severity, issue class and
labels for what no escalation ladder covers; ``resolve`` closes a group on the channels that can
(PagerDuty), once, on those that were told about it.

Two things survive trouble: with a ``memory`` (the executor's state store) what was delivered is
remembered on disk, so a responder restarted after ``kill -9`` that sees the same incident again does
not notify twice; and a delivery that fails (the receiver is down) is queued and retried by
``flush()`` with a growing back-off, so it goes out once the receiver is back, without a restart.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

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


class SentMemory(Protocol):
    """Where delivered notifications are remembered across restarts (``healing.state.StateStore``)."""

    def notified_at(self, channel: str, dedup_key: str) -> float | None: ...

    def mark_notified(self, channel: str, dedup_key: str, now: float, keep_seconds: float) -> None: ...


# Failed deliveries: retried after 2, 4, 8 ... s (at most RETRY_MAX_SECONDS apart), RETRY_ATTEMPTS
# times, at most RETRY_QUEUE held (the oldest is dropped, and counted, past that).
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0
RETRY_ATTEMPTS = 30
RETRY_QUEUE = 500


@dataclass
class _Retry:
    channel: str
    note: Notification
    extra: list[Notification] | None
    grouped: int
    attempts: int
    next_at: float


@dataclass
class _Group:
    opened_at: float
    held: list[Notification] = field(default_factory=list)


class NotificationRouter:
    def __init__(
        self,
        config: NotificationConfig,
        channels: dict[str, Channel],
        clock: Clock,
        memory: SentMemory | None = None,
    ) -> None:
        self.config = config
        self.channels = channels
        self.clock = clock
        self.memory = memory
        self.silences: list[Silence] = list(config.silences)
        self._sent: dict[tuple[str, str], float] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._retry: deque[_Retry] = deque()
        self.dropped = 0  # failed deliveries given up on (attempts spent, or the queue was full)
        self._lock = threading.Lock()

    @property
    def queued(self) -> int:
        """Failed deliveries waiting for a retry."""
        return len(self._retry)

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
                if seen is None and self.memory is not None:
                    seen = self.memory.notified_at(name, note.dedup_key)
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
        """Retry the failed deliveries that are due, then send a digest for every group whose window
        has ended (or all, with ``force``)."""
        now = self.clock.now()
        out = self._retry_due(now)
        due: list[tuple[str, list[Notification]]] = []
        with self._lock:
            for (name, key), group in list(self._groups.items()):
                if group.held and (force or now - group.opened_at >= self.config.group_window_seconds):
                    due.append((name, group.held))
                    self._groups[(name, key)] = _Group(opened_at=now)
        for name, held in due:
            channel = self.channels.get(name)
            if channel is not None:
                out.append(self._send(channel, held[-1], held[:-1] or None, grouped=len(held)))
        return out

    def _retry_due(self, now: float) -> list[Delivery]:
        with self._lock:
            due = [r for r in self._retry if r.next_at <= now]
            for item in due:
                self._retry.remove(item)
        out = []
        for item in due:
            channel = self.channels.get(item.channel)
            if channel is not None:
                out.append(self._send(channel, item.note, item.extra, item.grouped, item.attempts))
        return out

    def _send(
        self,
        channel: Channel,
        note: Notification,
        extra: list[Notification] | None,
        grouped: int = 0,
        attempts: int = 0,
    ) -> Delivery:
        try:
            channel.send(note, extra)
        except NotifyError as exc:
            return Delivery(
                channel.name,
                "failed",
                note.title,
                self._queue(channel.name, note, extra, grouped, attempts + 1, str(exc)),
                grouped,
            )
        if (
            self.memory is not None
        ):  # only once it is out: a crash before this line may repeat it, never lose it
            keep = max(self.config.dedup_window_seconds, self.config.group_window_seconds)
            self.memory.mark_notified(channel.name, note.dedup_key, self.clock.now(), keep)
        return Delivery(channel.name, "sent", note.title, "", grouped)

    def _queue(
        self,
        name: str,
        note: Notification,
        extra: list[Notification] | None,
        grouped: int,
        attempts: int,
        error: str,
    ) -> str:
        """Hold a failed delivery for a retry; returns the delivery's detail."""
        if attempts > RETRY_ATTEMPTS:
            self.dropped += 1
            return f"{error}; given up after {RETRY_ATTEMPTS} retries"
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
        with self._lock:
            if len(self._retry) >= RETRY_QUEUE:
                self._retry.popleft()
                self.dropped += 1
            self._retry.append(_Retry(name, note, extra, grouped, attempts, self.clock.now() + delay))
        return f"{error}; retry {attempts} in {delay:.0f} s"


__all__ = ["Delivery", "NotificationRouter", "SentMemory"]
