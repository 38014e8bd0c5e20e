"""The local process action really restarts a process by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forewarn.healing.actions.base import ActionContext
from forewarn.healing.actions.process import RestartProcess, _alive
from forewarn.healing.clock import SystemClock
from forewarn.healing.errors import ActionFailed

pytestmark = pytest.mark.integration

SCRIPT = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\ntime.sleep(300)\n"


def test_restart_process_by_pid(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    action = RestartProcess()
    ctx = ActionContext(service="worker", clock=SystemClock(), idempotency_key="k")
    new_pid = None
    deadline = time.monotonic() + 10
    while str(script).encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.02)
    try:
        outcome = action.run(action.parse({"pid": proc.pid, "grace_seconds": 5}), ctx)
        new_pid = outcome.data["new_pid"]
        assert not _alive(proc.pid)
        assert new_pid != proc.pid and _alive(new_pid)
        assert outcome.data["command"][-1] == str(script) and outcome.data["forced"] is False
        assert os.readlink(f"/proc/{new_pid}/cwd") == str(tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if new_pid is not None and _alive(new_pid):
            os.kill(new_pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _alive(new_pid) and time.monotonic() < deadline:
                time.sleep(0.05)


def test_restart_process_unknown_pid_fails() -> None:
    action = RestartProcess()
    ctx = ActionContext(service="worker", clock=SystemClock(), idempotency_key="k")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(ActionFailed, match="no process"):
        action.run(action.parse({"pid": proc.pid}), ctx)
