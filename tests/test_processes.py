"""ProcessGroup stops every child, including grandchildren and processes that ignore SIGINT/SIGTERM."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from forewarn.dev.processes import ManagedProcess, ProcessGroup

pytestmark = pytest.mark.unit

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


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


def test_group_stops_stubborn_children_and_grandchildren(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    with ProcessGroup() as group:
        proc = group.start(ManagedProcess("stubborn", [sys.executable, "-c", STUBBORN], log))
        deadline = time.monotonic() + 10
        while not log.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = int(log.read_text().split()[0])
        assert proc.alive() and _alive(grandchild)
        # Keep the grace period short so the test does not wait for the stubborn process.
        for process in group:
            process.stop(grace_seconds=0.5)
    assert proc.pid is not None
    assert not _alive(proc.pid)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


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
