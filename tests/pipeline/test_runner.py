"""The pieces of `forewarn run` that need no broker: CLI help, cluster commands, metrics endpoint, edges."""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.events import Detection, Severity
from forewarn.ingest import RawMessage
from forewarn.pipeline.heartbeat import HeartbeatSource
from forewarn.pipeline.kafka_input import in_shard
from forewarn.pipeline.messages import detection_message, to_raw
from forewarn.pipeline.metrics import PipelineMetrics, serve_metrics
from forewarn.pipeline.runner import (
    RunOptions,
    _interrupted,
    cluster_commands,
    epoch_interval,
    recovery_directory,
    tune_gc,
)
from forewarn.settings import PipelineSettings, Settings

from .conftest import WALL, at

pytestmark = pytest.mark.unit


def test_run_help_explains_the_options() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in (
        "--workers",
        "--from-beginning",
        "--metrics-port",
        "--recovery-dir",
        "dead-letter",
        "Ctrl-C",
        "--process-id",  # a cluster across hosts (tests/pipeline/test_cluster_hosts.py)
        "--addresses",
    ):
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--process-id", "0"], "--process-id and --addresses go together"),
        (["--addresses", "10.0.0.2:2101,10.0.0.3:2101"], "--process-id and --addresses go together"),
        (["--process-id", "2", "--addresses", "10.0.0.2:2101,10.0.0.3:2101"], "not an index of the 2"),
        (["-w", "2", "--process-id", "0", "--addresses", "10.0.0.2:2101"], "a cluster member is one process"),
    ],
)
def test_a_cluster_member_needs_a_consistent_id_and_address_list(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.output, result.output


def test_cluster_commands_give_each_member_its_id_shared_addresses_and_port() -> None:
    options = RunOptions(workers=3, metrics_port=9200, from_beginning=True, recovery_dir=Path("/tmp/rec"))
    commands = cluster_commands(options, ["forewarn", "run"])
    assert len(commands) == 3
    addresses = {cmd[cmd.index("--addresses") + 1] for cmd in commands}
    assert len(addresses) == 1 and len(addresses.pop().split(",")) == 3
    assert [cmd[cmd.index("--process-id") + 1] for cmd in commands] == ["0", "1", "2"]
    assert [cmd[cmd.index("--metrics-port") + 1] for cmd in commands] == ["9200", "9201", "9202"]
    assert all("--from-beginning" in cmd and "/tmp/rec" in cmd for cmd in commands)
    free = cluster_commands(RunOptions(workers=2, metrics_port=0), ["x"])
    assert [cmd[cmd.index("--metrics-port") + 1] for cmd in free] == ["0", "0"]


def test_shard_commands_name_each_shard_and_give_each_its_own_store() -> None:
    options = RunOptions(workers=2, metrics_port=9200, recovery_dir=Path("/tmp/rec"))
    commands = cluster_commands(options, ["forewarn", "run"], shards=True)
    assert [cmd[cmd.index("--shard") + 1] for cmd in commands] == ["0/2", "1/2"]
    assert not any("--addresses" in cmd or "--process-id" in cmd for cmd in commands)
    stores = [cmd[cmd.index("--recovery-dir") + 1] for cmd in commands]
    assert stores == ["/tmp/rec/shard-0-of-2", "/tmp/rec/shard-1-of-2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "2/2"], "need 0 <= I < N"),
        (["--shard", "1"], "expected I/N"),
        (["--shard", "a/b"], "expected I/N"),
        (["-w", "2", "--shard", "0/2"], "a --shard is one process of its own"),
    ],
)
def test_a_shard_must_be_one_process_named_i_of_n(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.output, result.output


def test_each_partition_belongs_to_exactly_one_shard_the_same_for_every_topic() -> None:
    parts = [f"{p}-{topic}" for topic in ("forewarn.probes", "forewarn.logs-2") for p in range(5)]
    owners = {part: [i for i in range(3) if in_shard(part, (i, 3))] for part in parts}
    assert all(len(found) == 1 for found in owners.values())
    assert owners["4-forewarn.probes"] == owners["4-forewarn.logs-2"] == [1]


def test_metrics_endpoint_serves_the_injected_registry_on_a_free_port() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, clock=lambda: 1234.0)
    metrics.beat()
    metrics.dead_letters.labels(reason="bad_json").inc(3)
    server, port = serve_metrics(registry, "127.0.0.1", 0)
    try:
        assert port > 0
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'forewarn_pipeline_dead_letters_total{reason="bad_json"} 3.0' in body
        assert "forewarn_pipeline_heartbeat_timestamp_seconds 1234.0" in body
        assert "python_gc" not in body  # only our registry, not the global one
    finally:
        server.shutdown()
        server.server_close()


def test_to_raw_handles_every_source_shape() -> None:
    message: KafkaSourceMessage[bytes | None, bytes | None] = KafkaSourceMessage(
        key=b"k", value=b"v", topic="t", partition=2, offset=9
    )
    assert to_raw(message) == RawMessage(value=b"v", key=b"k", topic="t", partition=2, offset=9)
    assert to_raw(b"plain") == RawMessage(value=b"plain")
    same = RawMessage(value=b"x")
    assert to_raw(same) is same
    assert to_raw(KafkaError(err=None, msg=message)) is None  # type: ignore[arg-type]


def test_detection_message_is_keyed_by_service() -> None:
    detection = Detection(
        id="abc",
        service="auth",
        series="auth/failure",
        detection_kind="failure",
        detector="d",
        timestamp=at(0),
        detected_at=WALL,
        score=0.6,
        confidence=0.5,
        severity=Severity.WARNING,
        value=1.0,
        reason="r",
    )
    message = detection_message(detection)
    assert message.key == b"auth"
    assert Detection.model_validate_json(message.value or b"") == detection


def test_heartbeat_source_ends_input_when_stopped() -> None:
    from bytewax.testing import TestingSource

    beats: list[int] = []
    stop = threading.Event()
    source = HeartbeatSource(TestingSource([1, 2, 3]), lambda: beats.append(1), stop)
    (part_name,) = source.list_parts()
    part = source.build_part("s", part_name, None)
    assert list(part.next_batch()) == [1]
    stop.set()
    with pytest.raises(StopIteration):
        part.next_batch()
    assert len(beats) == 1


def test_interrupted_finds_a_keyboard_interrupt_in_the_cause_chain() -> None:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise RuntimeError("bytewax wrapped it") from inner
    except RuntimeError as outer:
        assert _interrupted(outer)
    assert not _interrupted(RuntimeError("plain"))


def test_run_without_a_broker_fails_with_a_clear_message() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(
        app,
        ["run", "--bootstrap-servers", f"127.0.0.1:{port}", "--metrics-port", "0"],
        env={"FOREWARN_KAFKA__START_TIMEOUT_SECONDS": "1"},
    )
    assert result.exit_code == 2
    assert f"no Kafka broker answered at 127.0.0.1:{port}" in result.output
    assert "forewarn kafka up" in result.output


def test_idle_series_are_dropped_after_the_idle_time() -> None:
    from datetime import timedelta

    from forewarn.pipeline.detection import DetectionEngine
    from forewarn.pipeline.observations import Observation
    from forewarn.pipeline.steps import SeriesLogic
    from forewarn.settings import DetectorSettings

    now = [WALL]
    engine = DetectionEngine(DetectorSettings(), clock=lambda: now[0])
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    logic = SeriesLogic(engine, metrics, None, idle=timedelta(hours=1))
    logic.on_item([Observation("auth/failure", "auth", "failure", "failure", 0.0, at(0))])
    assert registry.get_sample_value("forewarn_pipeline_active_series") == 1
    assert logic.notify_at() == WALL + timedelta(hours=1)
    now[0] = WALL + timedelta(minutes=59)
    assert logic.on_notify() == ([], False)  # RETAIN: not idle long enough (e.g. a late wake-up)
    now[0] = WALL + timedelta(hours=1)
    assert logic.on_notify() == ([], True)  # DISCARD
    assert registry.get_sample_value("forewarn_pipeline_active_series") == 0


def test_with_recovery_the_epoch_is_the_short_snapshot_interval() -> None:
    """Bytewax snapshots at each epoch's end: with a recovery dir the epoch is the snapshot interval."""
    settings = Settings()
    assert epoch_interval(settings, recovery=None) == timedelta(seconds=10)
    assert epoch_interval(settings, recovery=object()) == timedelta(seconds=1)
    tuned = Settings(pipeline=PipelineSettings(snapshot_interval_seconds=5, epoch_interval_seconds=30))
    assert epoch_interval(tuned, recovery=object()) == timedelta(seconds=5)
    assert epoch_interval(tuned, recovery=None) == timedelta(seconds=30)


def test_recovery_is_on_by_default_in_a_store_named_for_the_cluster_topics_and_members(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Another cluster (the demo formats a new broker each run), other topics or another member count:
    another store, since a store's offsets and partitions mean nothing there."""
    clusters = iter(["cluster-A", "cluster-A", "cluster-B", "cluster-A", "cluster-A", "cluster-A"])
    monkeypatch.setattr("forewarn.kafka.io.wait_until_ready", lambda *args, **kwargs: next(clusters))
    monkeypatch.setenv("FOREWARN_CACHE_DIR", str(tmp_path))
    settings = Settings()
    assert settings.pipeline.recovery is True
    first = recovery_directory(settings, RunOptions(), 1)
    assert first is not None and first.parent == tmp_path / "recovery"
    assert recovery_directory(settings, RunOptions(), 1) == first  # a restart finds its store
    assert recovery_directory(settings, RunOptions(), 1) != first  # a new cluster id
    assert recovery_directory(settings, RunOptions(), 2) != first  # -w 2
    shard0 = recovery_directory(settings, RunOptions(shard=(0, 2)), 1)
    assert shard0 not in (None, first)  # a shard's store is its own, by default too
    assert shard0 != recovery_directory(settings, RunOptions(shard=(1, 2)), 1)


def test_recovery_off_given_or_for_a_hand_started_member(tmp_path: Path) -> None:
    off = Settings(pipeline=PipelineSettings(recovery=False))
    assert recovery_directory(off, RunOptions(), 1) is None
    assert recovery_directory(off, RunOptions(recovery_dir=tmp_path), 1) == tmp_path  # asked for
    member = RunOptions(process_id=0, addresses=("127.0.0.2:2101", "127.0.0.3:2101"))
    assert recovery_directory(Settings(), member, 2) is None  # members must agree on one: given only
    configured = Settings(pipeline=PipelineSettings(recovery_dir=tmp_path))
    assert recovery_directory(configured, member, 2) == tmp_path


def test_no_recovery_flag_is_in_the_help() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "--no-recovery" in result.output


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.unit
@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_spaces_out_the_passes_and_freezes_start_up() -> None:
    default = gc.get_threshold()
    tune_gc(0)  # 0 keeps Python's own
    assert gc.get_threshold() == default and gc.get_freeze_count() == 0
    tune_gc(50_000)
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() > 0  # start-up's objects are out of the collector's sight
    # cycles made after it are still collected
    first: list[object] = []
    first.append(first)
    del first
    assert gc.collect() >= 1
