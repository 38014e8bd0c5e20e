"""Supervise the member processes of a multi-process dataflow and stop them in bounded time.

Why a supervisor of its own: Ctrl-C or SIGTERM reaches only the parent (members run in their own
session), so the parent must pass the stop on and make sure it ends. Python's default SIGINT
handler cannot be relied on for that: a process started with SIGINT ignored (any background job of
a non-interactive shell, e.g. a CI step) never gets a KeyboardInterrupt, and such a parent used to
wait for its members forever. So handlers are installed explicitly and only record the request.

A stop forwards the signal the parent got (SIGINT when a member failed by itself), waits
``grace`` seconds, sends SIGTERM to what is left (a member's second signal: it forces itself out),
waits ``grace`` again, then SIGKILLs. A further signal to the parent skips the current wait. Each
member gets one log line saying how it ended; the exit code says whether the stop was clean.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

__all__ = ["FORCED_EXIT", "Member", "StopRequest", "exit_code", "stop_members", "stop_reason", "supervise"]

# Exit code when a member had to be forced (SIGTERM or SIGKILL after the grace period), as timeout(1).
FORCED_EXIT = 124
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_POLL_SECONDS = 0.05


class StopRequest:
    """Records SIGINT/SIGTERM sent to this process: which one came first and how many came."""

    def __init__(self) -> None:
        self.first: signal.Signals | None = None
        self.count = 0
        self.changed = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.first = self.first or signal.Signals(signum)
        self.count += 1
        self.changed.set()

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Catch SIGINT and SIGTERM (whatever their inherited disposition) while the block runs."""
        previous = {sig: signal.signal(sig, self) for sig in _STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass
class Member:
    """One member process and what the supervisor did to it."""

    index: int
    popen: subprocess.Popen[bytes]
    signals: list[signal.Signals] = field(default_factory=list)
    ended_after: float | None = None  # seconds from the start of the stop; None: ended before it

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive():
            self.popen.send_signal(sig)
            self.signals.append(sig)

    def forced(self) -> bool:
        return len(self.signals) > 1

    def report(self) -> str:
        code = self.popen.returncode
        ended = f"exited {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
        who = f"dataflow process {self.index} (pid {self.popen.pid})"
        if not self.signals:
            return f"{who}: {ended} before the stop"
        sent = ", then ".join(s.name for s in self.signals)
        forced = " (forced: it did not stop within the grace period)" if self.forced() else ""
        return f"{who}: {ended} {self.ended_after or 0.0:.1f} s after {sent}{forced}"


def supervise(members: Sequence[Member], request: StopRequest) -> None:
    """Return once a member has ended by itself or a stop was requested."""
    while request.count == 0 and all(m.alive() for m in members):
        request.changed.wait(0.2)


def stop_reason(members: Sequence[Member], request: StopRequest) -> str:
    """Why :func:`supervise` returned, as a log line."""
    if request.first is not None:
        return f"stopping the dataflow processes on {request.first.name}"
    ended = next(m for m in members if not m.alive())
    return f"dataflow process {ended.index} exited with {ended.popen.returncode}; stopping the others"


def _wait(members: Sequence[Member], request: StopRequest, seen: int, seconds: float, start: float) -> int:
    """Wait up to ``seconds`` for every member; a new signal to us cuts the wait short."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and request.count == seen:
        for member in members:
            if member.ended_after is None and not member.alive():
                member.ended_after = time.monotonic() - start
        if all(not m.alive() for m in members):
            break
        request.changed.clear()
        request.changed.wait(_POLL_SECONDS)
    return request.count


def stop_members(
    members: Sequence[Member], request: StopRequest, grace: float, announce: Callable[[str], None]
) -> None:
    """Forward the stop, escalate to SIGTERM then SIGKILL after ``grace`` each; one line per member."""
    start = time.monotonic()
    seen = request.count
    for sig in (request.first or signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        live = [m for m in members if m.alive()]
        if not live:
            break
        for member in live:
            member.send(sig)
        seen = _wait(live, request, seen, grace if sig != signal.SIGKILL else 5.0, start)
    for member in members:
        member.popen.wait()
        if member.signals and member.ended_after is None:
            member.ended_after = time.monotonic() - start
        announce(member.report())


def exit_code(members: Sequence[Member]) -> int:
    """The code of a member that ended by itself first (why we stopped); else FORCED_EXIT when one
    had to be forced; else the first non-zero code; 0 for a clean stop. Killed by N counts 128 + N."""
    failed = [m.popen.returncode for m in members if not m.signals and m.popen.returncode]
    if not failed and any(m.forced() for m in members):
        return FORCED_EXIT
    codes = failed or [m.popen.returncode for m in members]
    return next((c if c > 0 else 128 - c for c in codes if c), 0)
