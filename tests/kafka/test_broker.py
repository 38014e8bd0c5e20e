"""The real broker's lifecycle: start, stop without leftovers, restart keeping data, the CLI.

These tests start their own brokers (not the session one) on free ports in temporary data dirs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.dev.broker import BrokerStartError, LocalKafka, _port_open
from forewarn.kafka.io import ensure_topics, make_producer, read_topic
from forewarn.settings import KafkaSettings, Settings, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VERSION = load_settings().kafka.version


def _processes_using(path: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``path`` (our broker's config file)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(path) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _partitions(bootstrap: str, topic: str) -> set[int]:
    """Partitions of an existing topic, without letting the lookup auto-create it."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, allow_auto_create_topics=False)
    try:
        return set(consumer.partitions_for_topic(topic))
    finally:
        consumer.close()


def _produce(bootstrap: str, topic: str, values: list[str]) -> None:
    with make_producer(Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap))) as producer:
        for value in values:
            producer.send(topic, key="k", value=value)
        producer.flush()


def test_stop_leaves_nothing_behind_and_restart_keeps_messages(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "data", port=0, controller_port=0, version=VERSION, die_with_parent=True)
    with broker:
        pid = broker.pid()
        assert pid is not None
        assert broker.status().healthy
        ensure_topics(broker.bootstrap, ["kept"], partitions=1)
        _produce(broker.bootstrap, "kept", ["one", "two", "three"])
    assert _processes_using(broker.properties_path) == []
    assert not broker.pid_path.exists()
    assert not _port_open(broker.port)
    assert not broker.status().running

    # Same data dir, new ports: the formatted log (and the messages) survive a restart.
    again = LocalKafka(tmp_path / "data", port=0, controller_port=0, version=VERSION, die_with_parent=True)
    assert again.port != broker.port or again.controller_port != broker.controller_port
    with again:
        records = read_topic(again.bootstrap, "kept", timeout=20, max_messages=3)
        assert [r.value for r in records] == [b"one", b"two", b"three"]
        _produce(again.bootstrap, "kept", ["four"])
        assert len(read_topic(again.bootstrap, "kept", timeout=20)) == 4
    assert _processes_using(again.properties_path) == []


def test_broker_dies_with_the_process_that_owns_it(tmp_path: Path) -> None:
    """die_with_parent: a test run killed with SIGKILL must not leave a JVM behind."""
    data_dir = tmp_path / "orphan"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from forewarn.dev.broker import LocalKafka\n"
        f"b = LocalKafka(Path({str(data_dir)!r}), port=0, controller_port=0, version={VERSION!r},"
        " die_with_parent=True)\n"
        "b.start()\n"
        "print(b.pid(), flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        broker_pid = int(owner.stdout.readline().strip())
        assert _processes_using(data_dir / "server.properties") == [broker_pid]
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
    deadline = time.monotonic() + 30
    while _processes_using(data_dir / "server.properties") and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = _processes_using(data_dir / "server.properties")
    for pid in leftover:  # clean up before failing, so a regression does not leak a JVM
        os.kill(pid, signal.SIGKILL)
    assert leftover == []


def test_cli_up_status_down(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = tmp_path / "cli"
    args = ["--data-dir", str(data_dir)]
    up = runner.invoke(app, ["kafka", "up", "--port", "0", "--controller-port", "0", *args])
    try:
        assert up.exit_code == 0, up.output
        assert f"Kafka {VERSION} is up at 127.0.0.1:" in up.output
        assert str(data_dir / "kafka.log") in up.output
        assert "created topics: forewarn.probes, forewarn.logs" in up.output
        bootstrap = up.output.split(" at ", 1)[1].split()[0]
        assert _partitions(bootstrap, load_settings().topics.probes) == {0, 1, 2}
        status = runner.invoke(app, ["kafka", "status", *args])
        assert status.exit_code == 0, status.output
        assert status.output.startswith("running: Kafka at 127.0.0.1:")
        again = runner.invoke(app, ["kafka", "up", *args])
        assert again.exit_code == 0, again.output
        assert "was already running" in again.output
    finally:
        down = runner.invoke(app, ["kafka", "down", *args])
    assert down.exit_code == 0, down.output
    assert down.output.startswith("stopped: Kafka broker (pid ")
    assert _processes_using(data_dir / "server.properties") == []
    status = runner.invoke(app, ["kafka", "status", *args])
    assert status.exit_code == 1
    assert status.output.startswith("stopped:")
    assert runner.invoke(app, ["kafka", "down", *args]).output.startswith("nothing to stop")


def test_cli_help_names_the_commands() -> None:
    result = CliRunner().invoke(app, ["kafka", "--help"])
    assert result.exit_code == 0
    for word in ("up", "status", "down", "Maven Central", "FOREWARN_KAFKA__BOOTSTRAP_SERVERS"):
        assert word in result.output
    up_help = CliRunner().invoke(app, ["kafka", "up", "--help"])
    assert "--controller-port" in up_help.output and "--data-dir" in up_help.output


def test_a_broker_that_cannot_start_names_its_log(tmp_path: Path) -> None:
    # A heap too small for the JVM: the process exits at once and start() must say where to look.
    broker = LocalKafka(tmp_path, port=0, controller_port=0, version=VERSION, heap="1k", start_timeout=60)
    with pytest.raises(BrokerStartError) as info:
        broker.start()
    message = str(info.value)
    assert "exited during start-up" in message
    assert str(broker.log_path) in message
    assert "heap" in message  # the JVM's own complaint, copied from kafka.out
    assert _processes_using(broker.properties_path) == []
    assert not broker.pid_path.exists()


def _bound_not_listening() -> socket.socket:
    """A port taken by another socket that refuses connections: only the JVM's bind() notices."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_fixed_port_taken_at_bind_time_fails_with_the_reason(tmp_path: Path) -> None:
    with _bound_not_listening() as taken:
        broker = LocalKafka(tmp_path, port=taken.getsockname()[1], controller_port=0, version=VERSION)
        with pytest.raises(BrokerStartError, match="Address already in use"):
            broker.start()
    assert _processes_using(broker.properties_path) == []


def test_a_free_port_stolen_before_start_is_picked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import forewarn.dev.broker as broker_module
    from forewarn.free_ports import free_ports as real

    with _bound_not_listening() as taken:
        stolen = [taken.getsockname()[1]]  # handed out once, as the first port of the first pick

        def picks(count: int, host: str) -> list[int]:
            first = [stolen.pop()] if stolen else []
            return first + [p for p in real(count, host) if p not in first][: count - len(first)]

        monkeypatch.setattr(broker_module, "free_ports", picks)
        broker = LocalKafka(tmp_path, port=0, controller_port=0, version=VERSION, die_with_parent=True)
        assert broker.port == taken.getsockname()[1]
        with broker:
            assert broker.port != taken.getsockname()[1]
            assert broker.status().healthy
    assert _processes_using(broker.properties_path) == []
