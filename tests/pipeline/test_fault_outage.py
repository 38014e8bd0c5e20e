"""The broker stopped for a while and started again, under real producers and consumers (issue #15).

Real processes on a broker of the test's own (stopping the session's would hit other tests):
``forewarn probe`` probing a local HTTP server every second and ``forewarn ship-logs`` following a
file the test appends to (the producers, kafka-python, each with a bounded buffer whose counts are
on their ``/metrics``), ``forewarn run`` (the dataflow, librdkafka) and ``forewarn api`` with its
store sink (the shared kafka-python consume loop). Counted: every probe the server answered and
every line written must reach the dataflow and (probes) the store, none dropped; duplicates in the
topics (at-least-once producers) are counted by identity. The 60 s outage is ``long``; CI runs 15 s.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from forewarn.kafka.io import ensure_topics
from forewarn.settings import KafkaSettings, ProbeSettings, ProbeTarget, Settings, StoreSettings

from ..conftest import local_broker, prefixed_topics
from ..fault_report import record
from .kafka_process import DataflowProcess, child_env, start_dataflow, wait_until, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICES = ["auth", "email", "sms"]
LINES_PER_SECOND = 10
EVENTS = "forewarn_pipeline_events_total"


class _Health(BaseHTTPRequestHandler):
    """200 for every service; counts the requests, which are the probe results made."""

    answered: ClassVar[Counter[str]] = Counter()

    def do_GET(self) -> None:
        _Health.answered[self.path.rsplit("/", 1)[-1]] += 1
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def _ignore_sigint() -> None:  # in the child before exec; SIG_IGN survives the exec
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Child:
    """A forewarn process whose output lines are kept; its /metrics URL when it prints one."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "forewarn", *args],
            env={**env, "PYTHONFAULTHANDLER": "1"},
            # As a CI step's background job starts them: SIGINT ignored, so each process must catch
            # it itself (`forewarn api` did not, and never stopped on SIGINT when started so).
            preexec_fn=_ignore_sigint,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if text in line), None)
            if found is not None:
                return found
            assert self.proc.poll() is None, "\n".join(self.lines[-20:])
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in:\n" + "\n".join(self.lines[-20:]))

    def metrics(self) -> DataflowProcess:
        url = self.wait_for("metrics on http://").split("metrics on ", 1)[1].split()[0]
        return DataflowProcess(self.proc, url)  # only its metric reader is used

    def stop(self, timeout: float = 30) -> int:
        """SIGINT, and the exit code; a process still there after ``timeout`` gets SIGABRT first, so
        its threads' stacks (PYTHONFAULTHANDLER) are in its lines, then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            raise
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(5)


def _stop_outcome(child: _Child) -> str:
    """SIGINT ``child`` and say how it ended: "exit N in S s", or that it had to be killed."""
    start = time.monotonic()
    try:
        code = child.stop()
    except subprocess.TimeoutExpired:
        return "did not stop within 30 s of SIGINT (killed)"
    return f"exit {code} in {time.monotonic() - start:.1f} s"


@contextlib.contextmanager
def _health_server() -> Iterator[str]:
    _Health.answered = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


class _LogWriter:
    """Appends numbered lines to a file at LINES_PER_SECOND until stopped; counts them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            while not self._stop.wait(1 / LINES_PER_SECOND):
                out.write(json.dumps({"level": "INFO", "message": f"request {self.written} served"}) + "\n")
                out.flush()
                self.written += 1

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.written


def _store_probes(path: Path) -> int:
    if not path.exists():  # the API creates it at start
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM probes").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


@pytest.mark.parametrize("outage", [15.0, pytest.param(60.0, marks=pytest.mark.long)], ids=["ci", "minute"])
def test_broker_outage_producers_buffer_and_every_consumer_catches_up(
    tmp_path: Path, kafka_topic_prefix: str, outage: float
) -> None:
    broker = local_broker(tmp_path / "broker")
    broker.start()
    children: list[_Child] = []
    store = tmp_path / "state.db"
    log_file = tmp_path / "app.log"
    log_file.touch()
    writer = _LogWriter(log_file)
    try:
        topics = prefixed_topics(kafka_topic_prefix)
        ensure_topics(broker.bootstrap, topics.all(), partitions=3)
        with _health_server() as base:
            settings = Settings(
                kafka=KafkaSettings(
                    bootstrap_servers=broker.bootstrap, consumer_group=f"{kafka_topic_prefix}g"
                ),
                topics=topics,
                probe=ProbeSettings(
                    targets=[ProbeTarget(service=s, url=f"{base}/{s}") for s in SERVICES],
                    interval_seconds=1.0,
                    jitter_fraction=0.0,
                    metrics_port=0,
                ),
                store=StoreSettings(url=f"sqlite:///{store}", consumer_group=f"{kafka_topic_prefix}store"),
            )
            env = child_env(write_config(settings, tmp_path / "forewarn.yaml"))
            with start_dataflow(settings, tmp_path) as dataflow:
                api = _Child(["api", "--port", "0"], env)
                children.append(api)
                shipper = _Child(
                    [
                        "ship-logs",
                        str(log_file),
                        "--service",
                        "app",
                        "--metrics-port",
                        "0",
                        "--poll-interval",
                        "0.1",
                    ],
                    env,
                )
                children.append(shipper)
                shipper.wait_for("following")
                writer.start()
                prober = _Child(["probe"], env)
                children.append(prober)
                probe_metrics, ship_metrics = prober.metrics(), shipper.metrics()
                assert wait_until(lambda: _store_probes(store) >= 2 * len(SERVICES), 60), "\n".join(
                    api.lines[-20:]
                )

                broker.stop()
                down_at = time.monotonic()
                buffered_peak = {"probe": 0.0, "logs": 0.0}
                while time.monotonic() - down_at < outage:
                    for name, metrics in (("probe", probe_metrics), ("logs", ship_metrics)):
                        buffered = metrics.metric("forewarn_publisher_buffered") + metrics.metric(
                            "forewarn_publisher_in_flight"
                        )
                        buffered_peak[name] = max(buffered_peak[name], buffered)
                    time.sleep(0.5)
                during = {
                    "dataflow_source_up": dataflow.metric("forewarn_pipeline_source_up"),
                    "probe_connected": probe_metrics.metric("forewarn_publisher_connected"),
                    "logs_connected": ship_metrics.metric("forewarn_publisher_connected"),
                }
                address = broker.bootstrap
                broker.start()
                back_at = time.monotonic()
                assert broker.bootstrap == address, "the broker came back on another port"
                lines_by_restart = writer.written
                probes_by_restart = sum(_Health.answered.values())

                def caught_up() -> bool:
                    return (
                        dataflow.metric(EVENTS, {"kind": "log"}) >= lines_by_restart
                        and dataflow.metric(EVENTS, {"kind": "probe"}) >= probes_by_restart
                        and _store_probes(store) >= probes_by_restart
                    )

                recovered = wait_until(caught_up, 120)
                recovered_in = time.monotonic() - back_at
                time.sleep(3)  # a few more rounds and lines with the broker back
                dropped = {
                    "probe": int(probe_metrics.metric("forewarn_publisher_dropped_total")),
                    "logs": int(ship_metrics.metric("forewarn_publisher_dropped_total")),
                }
                lines = writer.stop()
                assert prober.stop() == 0 and shipper.stop() == 0, prober.lines[-5:] + shipper.lines[-5:]
                probes = sum(_Health.answered.values())
                assert wait_until(
                    lambda: (
                        dataflow.metric(EVENTS, {"kind": "log"}) >= lines
                        and dataflow.metric(EVENTS, {"kind": "probe"}) >= probes
                        and _store_probes(store) >= probes
                    ),
                    60,
                ), (
                    f"not caught up 60 s after the producers stopped (recovered={recovered} in "
                    f"{recovered_in:.0f} s): dataflow logs {dataflow.metric(EVENTS, {'kind': 'log'}):.0f}"
                    f"/{lines}, probes {dataflow.metric(EVENTS, {'kind': 'probe'}):.0f}/{probes}, "
                    f"stored probes {_store_probes(store)}/{probes}; api:\n" + "\n".join(api.lines[-15:])
                )
                read = {
                    "logs": int(dataflow.metric(EVENTS, {"kind": "log"})),
                    "probes": int(dataflow.metric(EVENTS, {"kind": "probe"})),
                }
                stored = _store_probes(store)
                api_stop = _stop_outcome(api)
    finally:
        writer.stop()
        for index, child in enumerate(children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.stop()
            (tmp_path / f"child-{index}.log").write_text("\n".join(child.lines))  # for a failure's reader
        broker.stop()

    record(
        f"broker stopped {outage:.0f} s, then restarted",
        events_sent=probes + lines,
        accounted_for=min(read["probes"], stored) + read["logs"],
        duplicates=(read["probes"] - probes) + (read["logs"] - lines),
        recovered_in_s=recovered_in,
        buffered_peak=buffered_peak,
        dropped=dropped,
        during_outage=during,
        probes={"answered": probes, "dataflow": read["probes"], "store": stored},
        log_lines={"written": lines, "dataflow": read["logs"]},
        api_stop=api_stop,
    )
    assert api_stop.startswith("exit 0 "), api_stop
    assert recovered, "the consumers did not catch up within 120 s of the broker's return"
    assert during == {"dataflow_source_up": 0.0, "probe_connected": 0.0, "logs_connected": 0.0}
    assert buffered_peak["probe"] >= len(SERVICES) and buffered_peak["logs"] >= LINES_PER_SECOND
    assert dropped == {"probe": 0, "logs": 0}
    assert stored == probes  # the store upserts by id: exactly one row per probe made
    assert read["probes"] >= probes and read["logs"] >= lines  # nothing lost (re-sends counted above)
