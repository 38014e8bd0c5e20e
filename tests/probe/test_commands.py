"""``forewarn probe`` and ``forewarn ship-logs`` as a user runs them: real processes, real demo app,
real Kafka, signals to stop them, exit codes checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from forewarn.events import LogLevel, LogRecord, ProbeResult
from forewarn.ingest import RawMessage, parse_message
from forewarn.kafka.io import read_topic
from forewarn.musobuddy.server import running_app
from forewarn.settings import IngestSettings, Settings

pytestmark = pytest.mark.integration


def forewarn_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_") or k == "FOREWARN_CACHE_DIR"}
    env["FOREWARN_LOG_LEVEL"] = "WARNING"
    if settings is not None:
        env["FOREWARN_KAFKA__BOOTSTRAP_SERVERS"] = settings.kafka.bootstrap_servers
        env["FOREWARN_TOPICS__PROBES"] = settings.topics.probes
        env["FOREWARN_TOPICS__LOGS"] = settings.topics.logs
    env.update(extra)
    return env


def forewarn(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forewarn", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def demo_app(tmp_path: Path) -> Iterator[str]:
    with running_app(log_path=tmp_path / "musobuddy.jsonl") as base_url:
        yield base_url


def test_probe_once_without_kafka_exits_by_health(demo_app: str) -> None:
    healthy = forewarn("probe", "--once", "--no-kafka", "--base-url", demo_app, env=forewarn_env())
    assert healthy.returncode == 0, healthy.stderr
    for service in ("auth", "database", "email", "sms", "payments", "overall"):
        assert service in healthy.stdout

    httpx.post(f"{demo_app}/api/faults/db_outage").raise_for_status()
    broken = forewarn(
        "probe",
        "--once",
        "--no-kafka",
        "--base-url",
        demo_app,
        "-s",
        "database",
        "-s",
        "sms",
        env=forewarn_env(),
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "503" in broken.stdout
    assert "auth" not in broken.stdout  # only the services asked for


def test_probe_once_publishes_to_kafka(demo_app: str, kafka_settings: Settings) -> None:
    done = forewarn("probe", "--once", "--base-url", demo_app, env=forewarn_env(kafka_settings))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "published 6 results" in done.stdout
    records = read_topic(kafka_settings.kafka.bootstrap_servers, kafka_settings.topics.probes, max_messages=6)
    events = [parse_message(RawMessage(r.value, key=r.key), IngestSettings()) for r in records]
    assert sorted(e.service for e in events if isinstance(e, ProbeResult)) == sorted(
        ["auth", "database", "email", "sms", "payments", "overall"]
    )


def test_probe_once_with_kafka_down_says_results_were_not_delivered(demo_app: str, closed_port: int) -> None:
    done = forewarn(
        "probe",
        "--once",
        "--base-url",
        demo_app,
        "--bootstrap-servers",
        f"127.0.0.1:{closed_port}",
        env=forewarn_env(FOREWARN_LOG_LEVEL="WARNING"),
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "6 of 6 results not delivered" in done.stdout
    assert "unavailable" in done.stderr and "buffering" in done.stderr


def test_probe_loop_runs_until_sigterm_and_flushes(demo_app: str, kafka_settings: Settings) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "forewarn", "probe", "--interval", "1", "--base-url", demo_app, "-s", "auth"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=forewarn_env(kafka_settings),
    )
    try:
        records = read_topic(
            kafka_settings.kafka.bootstrap_servers, kafka_settings.topics.probes, timeout=60, max_messages=3
        )
        assert len(records) == 3
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "1/1 ok" in out
    stamps = [json.loads(r.value)["timestamp"] for r in records]
    assert stamps == sorted(stamps)


def test_ship_logs_from_stdin_without_kafka() -> None:
    lines = (
        '{"level": "error", "message": "db down", "pool": 20}\n'
        "\n"
        "plain WARNING text\n"
        "2026-11-25 17:00:00 INFO ok\n"
    )
    done = forewarn("ship-logs", "-", "--service", "musobuddy", "--no-kafka", stdin=lines, env=forewarn_env())
    assert done.returncode == 0, done.stderr
    records = [LogRecord.model_validate_json(line) for line in done.stdout.splitlines()]
    assert [r.level for r in records] == [LogLevel.ERROR, LogLevel.INFO, LogLevel.INFO]
    assert records[0].attributes == {"pool": 20}
    assert "shipped 3 records from 4 lines (1 blank)" in done.stderr


def test_ship_logs_rejects_a_bad_service_name() -> None:
    done = forewarn(
        "ship-logs", "-", "--service", "no spaces please", "--no-kafka", stdin="", env=forewarn_env()
    )
    assert done.returncode == 2
    assert "bad service name" in done.stderr


def test_ship_logs_follows_a_rotating_file_into_kafka(tmp_path: Path, kafka_settings: Settings) -> None:
    log = tmp_path / "app.log"
    log.write_text("before start, not shipped\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forewarn",
            "ship-logs",
            str(log),
            "--service",
            "musobuddy",
            "--poll-interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=forewarn_env(kafka_settings),
    )
    bootstrap, topic = kafka_settings.kafka.bootstrap_servers, kafka_settings.topics.logs
    try:
        assert process.stderr is not None
        # Blocking reads (no spinning): wait for the shipper to say it is following, or to exit.
        seen = ""
        for _ in range(50):
            line = process.stderr.readline()
            seen += line
            if not line or "following" in line:
                break
        assert "following" in seen, seen
        with log.open("a") as handle:
            handle.write("2026-11-25 17:00:00 ERROR [db.pool] first\n")
        assert len(read_topic(bootstrap, topic, timeout=30, max_messages=1)) == 1
        log.rename(tmp_path / "app.log.1")  # rotation
        log.write_text('{"level": "warning", "message": "second"}\n')
        with (tmp_path / "app.log").open("a") as handle:
            handle.write("third\n")
        records = read_topic(bootstrap, topic, timeout=30, max_messages=3)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    events = [parse_message(RawMessage(r.value, key=r.key), IngestSettings()) for r in records]
    assert [(e.level, e.message) for e in events if isinstance(e, LogRecord)] == [
        (LogLevel.ERROR, "first"),
        (LogLevel.WARNING, "second"),
        (LogLevel.INFO, "third"),
    ]
    assert {r.key for r in records} == {b"musobuddy"}


def test_ship_logs_with_kafka_down_exits_3_and_says_what_was_lost(closed_port: int) -> None:
    done = forewarn(
        "ship-logs",
        "-",
        "--service",
        "musobuddy",
        "--bootstrap-servers",
        f"127.0.0.1:{closed_port}",
        stdin="one\ntwo\n",
        env=forewarn_env(),
    )
    assert done.returncode == 3, done.stderr
    assert "closing with 2 undelivered messages" in done.stderr
    assert "shipped 2 records from 2 lines (0 blank); delivered 0, dropped 0; 2 NOT delivered" in done.stderr
