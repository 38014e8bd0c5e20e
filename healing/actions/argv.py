"""Run one executable with arguments: no shell, a timeout, output captured and bounded.

Why not ``subprocess.run(timeout=)``: it kills only the direct child, so a script's own children keep
the pipes open and the call hangs past its timeout. Here the child leads a new process group and the
whole group is killed (SIGTERM, then SIGKILL) when time is up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from forewarn.healing.errors import ActionFailed

# What a command inherits from forewarn's environment; everything else is passed explicitly.
_INHERITED = ("PATH", "LANG", "LC_ALL", "HOME", "TZ")


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int | None  # None: killed on timeout
    stdout: bytes
    stderr: bytes
    timed_out: bool


def resolve_executable(name: str) -> Path:
    """The real path of ``name`` (looked up on PATH when it has no slash); ``ActionFailed`` if none."""
    found = name if "/" in name else shutil.which(name)
    if found is None or not os.access(found, os.X_OK) or not Path(found).is_file():
        raise ActionFailed(f"{name}: no such executable")
    return Path(found).resolve()


def run_argv(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    grace_seconds: float = 2.0,
) -> Completed:
    """Run ``argv`` (``argv[0]`` already resolved) and wait at most ``timeout`` seconds."""
    base = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    try:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**base, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group: a timeout kills the whole tree
        )
    except OSError as exc:
        raise ActionFailed(f"{argv[0]}: could not start ({exc})") from exc
    try:
        out, err = child.communicate(timeout=timeout)
        return Completed(list(argv), child.returncode, out, err, False)
    except subprocess.TimeoutExpired:
        _kill_group(child.pid, signal.SIGTERM)
        try:
            out, err = child.communicate(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(child.pid, signal.SIGKILL)
            out, err = child.communicate()
        return Completed(list(argv), None, out, err, True)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, sig)


__all__ = ["Completed", "resolve_executable", "run_argv"]
