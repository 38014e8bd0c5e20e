"""Run the real ``forewarn run`` for ``forewarn bench pipeline`` and watch it through ``/metrics``.

Why the command itself and not a flow built in the bench process: the figure a user cares about is
what ``forewarn run`` (and ``forewarn run -w 2``) does, start-up path, sinks, metrics endpoint and
all. Progress is read the way an operator would read it, from each process's Prometheus endpoint:
events parsed plus dead letters is how far the dataflow has got.

The rate counts from the first scrape that sees work to the scrape that sees all of it, so the
start-up (imports, broker connection, partition assignment) is not averaged into events/s.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from forewarn.settings import TopicSettings

_METRICS_LINE = re.compile(r"metrics: http://([\d.]+):(\d+)/metrics")
_PIDS_LINE = re.compile(r"started \d+ dataflow processes(?: \([^)]*\))?: pids ([\d, ]+)")
_COUNTERS = ("forewarn_pipeline_events_total", "forewarn_pipeline_dead_letters_total")

__all__ = ["DataflowProcess", "DrainResult", "cpu_seconds", "machine_busy_seconds", "topic_env"]


def topic_env(topics: TopicSettings) -> dict[str, str]:
    """The environment that points ``forewarn run`` at these topics."""
    return {
        f"FOREWARN_TOPICS__{field.upper()}": getattr(topics, field) for field in TopicSettings.model_fields
    }


def scrape(url: str, timeout: float = 2.0) -> dict[str, float]:
    """Sum of each metric family's samples (labels dropped) on one ``/metrics`` page."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode()
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        sums[name] = sums.get(name, 0.0) + float(value)
    return sums


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads, librdkafka's included); 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds spent by the whole machine (every core, idle and I/O wait left out) since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class DrainResult:
    events: int
    seconds: float
    peak_rss_bytes: int
    active_series: int
    cpu_seconds: float = 0.0  # of the dataflow processes, from ready to the last event
    machine_busy_seconds: float = 0.0  # of the whole machine (other work included), same span
    cpu_events: int = 1  # the events ``cpu_seconds`` covers (all of them)
    cpu_span: float = 1.0  # wall seconds ``cpu_seconds`` and ``machine_busy_seconds`` cover

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_us_per_event(self) -> float:
        """What one event costs the dataflow in CPU: unlike events/s, it barely depends on how much
        of the (shared) machine the dataflow got."""
        return self.cpu_seconds / self.cpu_events * 1e6


class DataflowProcess:
    """``forewarn run`` (``workers`` processes) on a broker and topics, output to ``log_path``."""

    def __init__(
        self,
        bootstrap: str,
        topics: TopicSettings,
        log_path: Path,
        *,
        workers: int = 1,
        from_beginning: bool = True,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "forewarn",
            "run",
            "--metrics-port",
            "0",
            "--bootstrap-servers",
            bootstrap,
        ]
        cmd += ["--from-beginning" if from_beginning else "--from-latest"]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        env = {**os.environ, **topic_env(topics), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.workers = workers
        self._log: IO[str] = log_path.open("w")
        self.popen = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self._urls: list[str] = []
        self._pids: list[int] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._log.write(line)
            if found := _METRICS_LINE.search(line):
                self._urls.append(f"http://{found.group(1)}:{found.group(2)}/metrics")
            if found := _PIDS_LINE.search(line):
                self._pids = [int(p) for p in found.group(1).split(",")]
        self._log.flush()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until every process serves ``/metrics`` (it then consumes: the flow is built first)."""
        deadline = time.monotonic() + timeout
        while len(self._urls) < self.workers:
            if self.popen.poll() is not None:
                raise RuntimeError(f"forewarn run exited with {self.popen.returncode}; see {self._log.name}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"forewarn run not serving metrics after {timeout:.0f}s; see {self._log.name}"
                )
            time.sleep(0.05)

    def totals(self) -> dict[str, float]:
        sums: dict[str, float] = {}
        for url in self._urls:
            for name, value in scrape(url).items():
                sums[name] = sums.get(name, 0.0) + value
        return sums

    def drain(
        self,
        expected: int,
        progress: Callable[[int], None],
        timeout: float,
        poll: float = 0.2,
        series: int = 0,
        settle: float = 30.0,
    ) -> DrainResult:
        """Wait until ``expected`` messages are processed; the rate from first work to the last.

        Events are counted when parsed, a step before the series' state is made; with ``series``,
        the run ends once that many series hold state too (or ``settle`` seconds later, whatever
        the gauge then says), so the figure covers the whole flow and the last batch is counted.
        """
        self.wait_ready()
        # CPU from here (flow built, consuming starts): a tiny run may finish between two scrapes
        cpu_start, machine_start = self.cpu_seconds(), machine_busy_seconds()
        span_start = time.monotonic()
        first: tuple[float, int] | None = None
        done = active = 0
        deadline = time.monotonic() + timeout
        settled: float | None = None
        while True:
            now, totals = time.monotonic(), self.totals()
            seen = int(sum(totals.get(name, 0.0) for name in _COUNTERS))
            active = int(totals.get("forewarn_pipeline_active_series", 0))
            if seen > done:
                progress(seen - done)
                done = seen
            if first is None and seen > 0:
                first = (now, seen)
            if seen >= expected:
                settled = now if settled is None else settled
                if active >= series or now - settled > settle:
                    break
            if time.monotonic() > deadline or self.popen.poll() is not None:
                raise RuntimeError(
                    f"forewarn run processed {seen} of {expected} messages; see {self._log.name}"
                )
            time.sleep(poll)
        assert first is not None
        start, at_start = first
        if now - start < poll or at_start >= expected:  # all parsed between two scrapes: a floor
            start, at_start = start - poll, 0
        cpu, machine = self.cpu_seconds() - cpu_start, machine_busy_seconds() - machine_start
        span = max(time.monotonic() - span_start, 1e-3)
        return DrainResult(
            expected - at_start, now - start, self.peak_rss(), active, cpu, machine, expected, span
        )

    def member_pids(self) -> list[int]:
        return self._pids or [self.popen.pid]

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by ``forewarn run`` and its dataflow processes (``-w N``)."""
        pids = {self.popen.pid, *self.member_pids()}
        return sum(cpu_seconds(pid) for pid in pids)

    def peak_rss(self) -> int:
        """Summed peak resident memory (VmHWM) of the dataflow processes, in bytes."""
        total = 0
        for pid in self.member_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if found := re.search(r"VmHWM:\s+(\d+) kB", status):
                total += int(found.group(1)) * 1024
        return total

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT (a graceful stop, as Ctrl-C), then SIGKILL if it overstays ``timeout``."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._reader.join(5)
        self._log.close()
        return self.popen.returncode

    def __enter__(self) -> DataflowProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
