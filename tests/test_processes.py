"""ProcessGroup stops every child, including grandchildren and processes that ignore SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from forewarn.dev.processes import ManagedProcess, ProcessGroup

pytestmark = pytest.mark.unit

# Ignores SIGINT and SIGTERM itself: only the SIGKILL at the end of the grace period stops it.
STUBBORN = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""

# Dies on SIGINT at once, leaving its own child behind; the child ignores SIGINT and SIGTERM (the
# ignored dispositions survive exec), so only a sweep of the whole process group stops it.
PARENT = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
signal.signal(signal.SIGINT, signal.SIG_DFL)
print(child.pid, flush=True)
time.sleep(60)
"""

PLAIN = "import time; print('ready', flush=True); time.sleep(60)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def _first_line(log: Path) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().strip():
            return log.read_text().split()[0]
        time.sleep(0.05)
    raise AssertionError(f"{log.name} printed nothing")


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_stop_all_alone_stops_every_child_and_grandchild(tmp_path: Path) -> None:
    group = ProcessGroup()
    scripts = {"plain": PLAIN, "stubborn": STUBBORN, "parent": PARENT}
    children = {
        name: group.start(ManagedProcess(name, [sys.executable, "-c", code], tmp_path / f"{name}.log"))
        for name, code in scripts.items()
    }
    try:
        for name in scripts:
            _first_line(tmp_path / f"{name}.log")  # each child is up and has set its signal handlers
        grandchild = int(_first_line(tmp_path / "parent.log"))
        pids = [p.pid for p in children.values() if p.pid is not None] + [grandchild]
        assert len(pids) == 4 and all(_alive(pid) for pid in pids)

        # A short grace period: the stubborn ones are then killed without waiting 10 s each.
        group.stop_all(grace_seconds=0.5)

        assert _gone_within(pids, 5.0) == [], "stop_all left processes running"
        assert all(not p.alive() for p in children.values())
    finally:  # never leak a child, even when stop_all is broken
        for process in children.values():
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)


def test_exit_code_and_tail(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "echo", [sys.executable, "-c", "print('hello'); raise SystemExit(3)"], tmp_path / "e.log"
    )
    proc.start()
    assert proc.popen is not None
    proc.popen.wait(timeout=10)
    assert proc.exit_code() == 3
    assert proc.tail() == "hello"
    proc.stop()
