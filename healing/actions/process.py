"""A local process action: restart a command by its pid (for services not behind an admin API).

Why re-exec from ``/proc``: the executor may not know how a process was started; the kernel does
(command line, working directory). SIGTERM first, SIGKILL only after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from forewarn.healing.actions.base import Action, ActionContext, ActionOutcome
from forewarn.healing.errors import ActionFailed


class RestartProcessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pid: int = Field(ge=2)
    command: list[str] | None = None  # default: the process's own command line
    cwd: str | None = None
    grace_seconds: float = Field(5.0, ge=0, le=300)
    log_file: str | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0): reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        stat = Path(f"/proc/{pid}/stat")
        try:
            return stat.read_text().split(") ", 1)[1][0] != "Z"
        except (OSError, IndexError):
            return False


class RestartProcess(Action):
    name = "restart-process"
    description = "Restart a local process by pid: SIGTERM, wait, SIGKILL if needed, start it again."
    params_model = RestartProcessParams
    reversible = True
    restarts = True

    def run(self, params: BaseModel, ctx: ActionContext) -> ActionOutcome:
        assert isinstance(params, RestartProcessParams)
        pid = params.pid
        proc = Path(f"/proc/{pid}")
        if not _alive(pid):
            raise ActionFailed(f"restart-process: no process {pid}")
        try:
            command = params.command or [
                part.decode() for part in (proc / "cmdline").read_bytes().split(b"\0") if part
            ]
            cwd = params.cwd or os.readlink(proc / "cwd")
        except OSError as exc:
            raise ActionFailed(f"restart-process: cannot read /proc/{pid} ({exc})") from exc
        if not command:
            raise ActionFailed(f"restart-process: process {pid} has no command line (kernel thread?)")
        os.kill(pid, signal.SIGTERM)
        waited = 0.0
        step = 0.05
        while _alive(pid) and waited < params.grace_seconds:
            ctx.clock.sleep(step)
            waited += step
        forced = False
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            forced = True
            for _ in range(100):
                if not _alive(pid):
                    break
                ctx.clock.sleep(step)
        if _alive(pid):
            raise ActionFailed(f"restart-process: process {pid} survived SIGKILL")
        out = open(params.log_file, "ab") if params.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            child = subprocess.Popen(
                command, cwd=cwd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except OSError as exc:
            raise ActionFailed(f"restart-process: could not start {command[0]} ({exc})") from exc
        finally:
            if not isinstance(out, int):
                out.close()
        return ActionOutcome(
            True,
            f"restarted pid {pid} as pid {child.pid}" + (" (SIGKILL after grace)" if forced else ""),
            data={"old_pid": pid, "new_pid": child.pid, "command": command, "forced": forced},
        )
