"""The multi-process supervisor on real (tiny) processes: forward, escalate, report, exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from forewarn.pipeline.supervisor import (
    FORCED_EXIT,
    Member,
    StopRequest,
    exit_code,
    stop_members,
    stop_reason,
    supervise,
)

pytestmark = pytest.mark.unit

# A member stand-in: ignores the named signals, says "ready" once its handlers are set, then idles
# (or exits with CODE at once); SIGINT/SIGTERM not ignored end it with exit 0, as a clean stop does.
_CHILD = """
import signal, sys, time
ignore, code = sys.argv[1].split(","), int(sys.argv[2])
for name in ("SIGINT", "SIGTERM"):
    handler = signal.SIG_IGN if name in ignore else (lambda *_: sys.exit(0))
    signal.signal(getattr(signal, name), handler)
print("ready", flush=True)
if code:
    sys.exit(code)
time.sleep(60)
"""


def _start(index: int, ignore: str = "", code: int = 0) -> Member:
    popen = subprocess.Popen([sys.executable, "-c", _CHILD, ignore, str(code)], stdout=subprocess.PIPE)
    assert popen.stdout is not None and popen.stdout.readline() == b"ready\n"
    return Member(index, popen)


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for member in started:
        if member.alive():
            member.popen.kill()
        member.popen.wait()
        assert member.popen.stdout is not None
        member.popen.stdout.close()


def _stop(members: list[Member], request: StopRequest, grace: float) -> tuple[list[str], float]:
    lines: list[str] = []
    start = time.monotonic()
    stop_members(members, request, grace, lines.append)
    return lines, time.monotonic() - start


def test_a_member_that_stops_on_the_forwarded_signal_is_a_clean_stop(members: list[Member]) -> None:
    members += [_start(0), _start(1)]
    request = StopRequest()
    request(signal.SIGTERM, None)
    lines, took = _stop(members, request, grace=10.0)
    assert took < 5.0 and exit_code(members) == 0
    assert [line.split(": ")[1].split(" ", 2)[:2] for line in lines] == [["exited", "0"]] * 2
    assert all(line.endswith("s after SIGTERM") for line in lines)


def test_escalates_to_sigterm_then_sigkill_after_the_grace_period(members: list[Member]) -> None:
    members += [_start(0), _start(1, ignore="SIGINT"), _start(2, ignore="SIGINT,SIGTERM")]
    lines, took = _stop(members, StopRequest(), grace=0.5)
    assert 1.0 <= took < 5.0  # two grace periods, then SIGKILL is immediate
    pid = [m.popen.pid for m in members]
    assert lines[0].startswith(f"dataflow process 0 (pid {pid[0]}): exited 0 ")
    assert lines[0].endswith(" s after SIGINT")
    assert lines[1].startswith(f"dataflow process 1 (pid {pid[1]}): exited 0 ")
    assert lines[1].endswith(
        " s after SIGINT, then SIGTERM (forced: it did not stop within the grace period)"
    )
    assert lines[2].startswith(f"dataflow process 2 (pid {pid[2]}): killed by SIGKILL ")
    assert "after SIGINT, then SIGTERM, then SIGKILL (forced" in lines[2]
    assert exit_code(members) == FORCED_EXIT
    assert not any(m.alive() for m in members)


def test_a_second_signal_skips_the_grace_period(members: list[Member]) -> None:
    members += [_start(0, ignore="SIGINT")]
    request = StopRequest()
    request(signal.SIGINT, None)
    threading.Timer(0.5, request, (signal.SIGINT, None)).start()
    lines, took = _stop(members, request, grace=60.0)
    assert took < 10.0, lines
    assert lines[0].endswith("after SIGINT, then SIGTERM (forced: it did not stop within the grace period)")


def test_a_member_failing_by_itself_ends_supervision_and_gives_its_code(members: list[Member]) -> None:
    members += [_start(0), _start(1, code=3)]
    request = StopRequest()
    started = time.monotonic()
    supervise(members, request)
    assert time.monotonic() - started < 10.0 and request.first is None
    members[1].popen.wait()
    assert stop_reason(members, request) == "dataflow process 1 exited with 3; stopping the others"
    lines, _ = _stop(members, request, grace=10.0)
    assert lines[1] == f"dataflow process 1 (pid {members[1].popen.pid}): exited 3 before the stop"
    assert lines[0].endswith("s after SIGINT") and exit_code(members) == 3


def test_stop_request_catches_sigint_even_when_it_was_ignored() -> None:
    """The issue #15 flake: a process started with SIGINT ignored has no KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        request = StopRequest()
        with request.installed():
            os.kill(os.getpid(), signal.SIGINT)
            assert request.changed.wait(5)
        assert (request.first, request.count) == (signal.SIGINT, 1)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # restored
    finally:
        signal.signal(signal.SIGINT, previous)
