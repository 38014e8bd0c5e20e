"""Start and stop child processes so that nothing is ever left behind.

Why: the demo starts a JVM broker, a web app, the dataflow and the probe runner. Ctrl-C, an exception
or a crash of one part must stop all of them. Each child runs in its own session (process group), so
stopping it also stops whatever it spawned; stop is SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self


@dataclass
class ManagedProcess:
    """One child process with its output in a log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            list(self.argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(self.env) if self.env is not None else None,
            cwd=self.cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM the whole process group, wait, then SIGKILL what is left."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGINT)
            deadline = time.monotonic() + grace_seconds
            while self.popen.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        # The leader may be gone while its children linger in the group: always sweep it.
        _signal_group(self.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=2.0)
        _signal_group(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5.0)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ProcessGroup:
    """Processes started in order and stopped in reverse order, whatever happens in between."""

    def __init__(self) -> None:
        self._processes: list[ManagedProcess] = []

    def start(self, process: ManagedProcess) -> ManagedProcess:
        self._processes.append(process)
        process.start()
        return process

    def discard(self, process: ManagedProcess) -> None:
        """Forget a child that was stopped on its own, so liveness checks no longer look at it."""
        if process in self._processes:
            self._processes.remove(process)

    def __iter__(self) -> Iterator[ManagedProcess]:
        return iter(self._processes)

    def stop_all(self, grace_seconds: float = 10.0) -> None:
        """Stop every child, last started first (each: SIGINT, ``grace_seconds``, SIGTERM, SIGKILL)."""
        for process in reversed(self._processes):
            process.stop(grace_seconds)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C so ``finally`` blocks run and children are stopped."""

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
