"""Run ``forewarn run`` as a real process against a real broker, and read its metrics and output.

Why a module of its own: the dataflow's integration tests (messages, recovery after SIGINT or
kill -9, broker outages) all start, watch and stop the process the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from forewarn.settings import REVEAL_SECRETS, Settings

__all__ = [
    "DataflowProcess",
    "child_env",
    "member_pids",
    "member_urls",
    "plain_producer",
    "probe",
    "rss_bytes",
    "snapshotted_offsets",
    "start_dataflow",
    "wait_until",
    "write_config",
]


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` every 0.25 s until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


@dataclass
class DataflowProcess:
    proc: subprocess.Popen[str]
    metrics_url: str
    lines: list[str] = field(default_factory=list)
    stopped_in: float | None = None  # seconds from the SIGINT to the process's exit

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
        text = httpx.get(self.metrics_url, timeout=5).text
        total = 0.0
        for line in text.splitlines():
            match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
            if not match:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if all(got.get(k) == v for k, v in (labels or {}).items()):
                total += float(match.group(2))
        return total

    def kill(self) -> None:
        """SIGKILL, as a crash would: no drain, no flush, no last snapshot."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def wait_for_metric(self, name: str, expected: float, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        value = self.metric(name)
        while value < expected and time.monotonic() < deadline:
            assert self.proc.poll() is None, "dataflow died:\n" + "\n".join(self.lines[-30:])
            time.sleep(0.25)
            value = self.metric(name)
        return value


def _write_config(settings: Settings, path: Path) -> Path:
    # A 1 s epoch also without a recovery dir (with one, the 1 s snapshot interval is the epoch).
    short_epochs = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"epoch_interval_seconds": 1.0})}
    )
    return write_config(short_epochs, path)


def child_env(config: Path) -> dict[str, str]:
    """The environment of a forewarn child process reading ``config`` (no stray FOREWARN_ settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env.update({"FOREWARN_CONFIG": str(config), "PYTHONUNBUFFERED": "1"})
    if "FOREWARN_CACHE_DIR" in os.environ:
        env["FOREWARN_CACHE_DIR"] = os.environ["FOREWARN_CACHE_DIR"]
    return env


def write_config(settings: Settings, path: Path) -> Path:
    """``settings`` as a YAML file a child process loads (secrets revealed: it needs them)."""
    data = settings.model_dump(mode="json", exclude_none=True, context={REVEAL_SECRETS: True})
    path.write_text(yaml.safe_dump(data))
    return path


def _ignore_sigint() -> None:  # runs in the child before exec; SIG_IGN survives the exec
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def start_dataflow(
    settings: Settings,
    tmp_path: Path,
    *extra: str,
    stop_within: float = 30.0,
    ignore_sigint: bool = False,
    ready: str = "dataflow running",
) -> Iterator[DataflowProcess]:
    """``forewarn run --from-beginning --metrics-port 0 EXTRA`` until the block ends, then SIGINT.

    ``ignore_sigint`` starts it as a background job of a non-interactive shell (a CI step) would:
    SIGINT ignored, so Python installs no KeyboardInterrupt handler of its own. The block starts
    once a line contains ``ready`` (e.g. "started 2 dataflow processes": members still starting).
    """
    env = child_env(_write_config(settings, tmp_path / "forewarn.yaml"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from forewarn.cli import app; app()",
            "run",
            "--from-beginning",
            "--metrics-port",
            "0",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ignore_sigint if ignore_sigint else None,
    )
    lines: list[str] = []
    started = threading.Event()
    url: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            found = re.search(r"metrics: (http://\S+/metrics)", line)
            if found:
                url.append(found.group(1))
            if ready in line:
                started.set()
        started.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    process: DataflowProcess | None = None
    try:
        assert started.wait(90), "dataflow did not start:\n" + "\n".join(lines)
        assert proc.poll() is None, "dataflow exited:\n" + "\n".join(lines)
        assert url or ready != "dataflow running", "no metrics URL:\n" + "\n".join(lines)
        process = DataflowProcess(proc, url[0] if url else "", lines)
        yield process
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            try:
                code = proc.wait(timeout=stop_within)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(
                    f"dataflow did not stop within {stop_within:.0f} s of SIGINT:\n" + "\n".join(lines[-30:])
                )
            if process is not None:
                process.stopped_in = time.monotonic() - sent
            reader.join(5)
            assert code == 0, f"dataflow exited with {code} on SIGINT:\n" + "\n".join(lines[-30:])
            assert any("dataflow stopped" in line for line in lines)


def member_urls(lines: list[str]) -> list[str]:
    """The /metrics URL each process announced so far."""
    return [m.group(1) for line in lines if (m := re.search(r"metrics: (http://\S+/metrics)", line))]


def member_pids(lines: list[str]) -> list[int]:
    """The member pids a ``--workers N`` supervisor announced."""
    started = next(line for line in lines if re.search(r"started \d+ dataflow processes", line))
    return [int(p) for p in re.findall(r"\d+", started.split("pids", 1)[1])]


def probe(service: str, when: datetime, ok: bool) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "kind": "probe",
            "service": service,
            "endpoint": f"http://127.0.0.1:8080/api/health/{service}",
            "timestamp": when.isoformat(),
            "latency_ms": 20.0 + random.random(),
            "status_code": 200 if ok else 503,
            "ok": ok,
            "status": "ok" if ok else "down",
            "error": None if ok else "database unreachable",
        }
    ).encode()


def plain_producer(settings: Settings) -> Any:
    return KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=5)


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` now (0 once it has exited), from /proc: no extra dependency."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def snapshotted_offsets(recovery_dir: Path, topic: str) -> int:
    """How many messages of ``topic`` a restart on ``recovery_dir`` would skip: the input offsets in
    the snapshots a resume would load (Bytewax resumes at the lowest worker frontier of the latest
    execution and loads each key's last snapshot before it). Reads the store as a restart would,
    so a test can wait for a snapshot instead of sleeping for one."""
    frontiers: dict[int, list[int]] = {}
    snaps: dict[str, list[tuple[int, bytes | None]]] = {}
    for part in sorted(recovery_dir.glob("part-*.sqlite3")):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{part}?mode=ro", uri=True, timeout=5)) as db:
                for ex_num, frontier in db.execute("SELECT ex_num, worker_frontier FROM fronts"):
                    frontiers.setdefault(int(ex_num), []).append(int(frontier))
                rows = db.execute(
                    "SELECT state_key, snap_epoch, ser_change FROM snaps WHERE step_id LIKE '%.input'"
                )
                for key, epoch, change in rows:
                    if str(key).endswith(f"-{topic}"):
                        snaps.setdefault(str(key), []).append((int(epoch), change))
        except sqlite3.Error:  # a store being written at this instant: try again at the next poll
            return 0
    if not frontiers:
        return 0
    resume = min(frontiers[max(frontiers)])
    total = 0
    for versions in snaps.values():
        usable = [(epoch, change) for epoch, change in versions if epoch < resume and change is not None]
        if usable:
            offset = pickle.loads(max(usable, key=lambda version: version[0])[1])  # our own store
            total += max(0, int(offset))  # negative: OFFSET_BEGINNING/END, nothing read yet
    return total
