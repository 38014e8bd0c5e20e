"""Unit tests for the broker's generated config, the jar cache and pid-file safety (no JVM started)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from forewarn.dev.broker import (
    BrokerError,
    BrokerStartError,
    LocalKafka,
    SecureListener,
    _random_cluster_id,
    broker_properties,
    find_free_port,
    log4j2_properties,
)
from forewarn.dev.kafka_jars import JarDownloadError, ensure_kafka_jars, kafka_home, maven_pom
from forewarn.kafka.io import to_bytes
from forewarn.settings import KafkaSettings, Settings

pytestmark = pytest.mark.unit


def _parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_properties_bind_loopback_only_with_both_ports(tmp_path: Path) -> None:
    props = _parse(broker_properties(port=19092, controller_port=19093, log_dir=tmp_path / "kraft"))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == f"{props['node.id']}@127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "kraft")


def test_properties_are_tuned_for_a_single_small_node(tmp_path: Path) -> None:
    props = _parse(broker_properties(port=1, controller_port=2, log_dir=tmp_path, num_partitions=5))
    assert props["num.partitions"] == "5"
    assert props["auto.create.topics.enable"] == "true"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "1", key
    no_auto = _parse(broker_properties(port=1, controller_port=2, log_dir=tmp_path, auto_create_topics=False))
    assert no_auto["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize(
    ("port", "controller_port", "message"),
    [(9092, 9092, "must differ"), (0, 9093, "port must be"), (9092, 70000, "controller_port must be")],
)
def test_properties_reject_bad_ports(tmp_path: Path, port: int, controller_port: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        broker_properties(port=port, controller_port=controller_port, log_dir=tmp_path)


def test_a_secure_listener_adds_tls_and_sasl_beside_plaintext(tmp_path: Path) -> None:
    listener = SecureListener(
        tmp_path / "s.crt", tmp_path / "s.key", ca_file=tmp_path / "ca.crt", users={"ann": "pw-1"}
    )
    keystore = tmp_path / "keystore.pem"
    props = _parse(
        broker_properties(
            port=1, controller_port=2, log_dir=tmp_path, secure=listener, secure_port=3, keystore=keystore
        )
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1,SECURE://127.0.0.1:3,CONTROLLER://127.0.0.1:2"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1,SECURE://127.0.0.1:3"
    assert props["listener.security.protocol.map"].endswith(",SECURE:SASL_SSL")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"  # the tools and readiness check stay plain
    secure = {k.removeprefix("listener.name.secure."): v for k, v in props.items() if "secure." in k}
    assert secure["ssl.keystore.type"] == "PEM" and secure["ssl.keystore.location"] == str(keystore)
    assert secure["ssl.truststore.location"] == str(tmp_path / "ca.crt")
    assert secure["ssl.client.auth"] == "requested"
    assert secure["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"
    assert "ScramLoginModule required;" in secure["scram-sha-512.sasl.jaas.config"]
    assert 'user_ann="pw-1"' in secure["plain.sasl.jaas.config"]
    assert listener.format_arguments() == [
        "--add-scram=SCRAM-SHA-512=[name=ann,password=pw-1]",
        "--add-scram=SCRAM-SHA-256=[name=ann,password=pw-1]",
    ]
    tls_only = SecureListener(tmp_path / "s.crt", tmp_path / "s.key")
    assert tls_only.protocol == "SSL" and tls_only.format_arguments() == []
    assert "sasl.enabled.mechanisms" not in str(tls_only.properties(3, keystore))


@pytest.mark.parametrize("user", [{"ann": 'p"w'}, {"a,b": "pw"}, {"ann": "p]w"}])
def test_a_secure_listener_refuses_credentials_it_cannot_quote(tmp_path: Path, user: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="may use only"):
        SecureListener(tmp_path / "s.crt", tmp_path / "s.key", users=user)


def test_a_secure_listener_needs_its_own_port(tmp_path: Path) -> None:
    listener = SecureListener(tmp_path / "s.crt", tmp_path / "s.key")
    with pytest.raises(ValueError, match="its own port"):
        broker_properties(
            port=1, controller_port=2, log_dir=tmp_path, secure=listener, secure_port=1, keystore=tmp_path
        )


def test_log4j_writes_to_the_given_file(tmp_path: Path) -> None:
    text = log4j2_properties(tmp_path / "kafka.log")
    assert f"appender.file.fileName = {tmp_path / 'kafka.log'}" in text
    assert "rootLogger.appenderRef.file.ref = FILE" in text


def test_cluster_id_has_kafkas_format() -> None:
    ids = {_random_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and "=" not in i for i in ids)
    # One in 64 random ids would start with "-", which StorageTool's parser takes for an option.
    assert not any(i.startswith("-") for i in ids)


def test_free_ports_are_distinct_and_chosen_when_zero(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=0, controller_port=0)
    assert broker.port > 0 and broker.controller_port > 0
    assert broker.port != broker.controller_port
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"
    assert 0 < find_free_port() < 65536


def test_from_settings_uses_bootstrap_port_and_rejects_remote_hosts(tmp_path: Path) -> None:
    settings = Settings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:29092", controller_port=29093))
    broker = LocalKafka.from_settings(settings, data_dir=tmp_path)
    assert (broker.port, broker.controller_port, broker.data_dir) == (29092, 29093, tmp_path)
    remote = Settings(kafka=KafkaSettings(bootstrap_servers="kafka.example.com:9092"))
    with pytest.raises(BrokerError, match="remote"):
        LocalKafka.from_settings(remote, data_dir=tmp_path)


def test_pid_file_of_an_unrelated_process_is_not_trusted(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=0, controller_port=0)
    broker.pid_path.write_text(f"{os.getpid()}\n")  # alive, but not a Kafka broker
    assert broker.pid() is None
    assert broker.stop(timeout=1) is False  # never signals a process it does not own
    assert not broker.pid_path.exists()
    broker.pid_path.write_text("not a number\n")
    assert broker.pid() is None


def test_start_refuses_a_busy_port_before_launching_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        broker = LocalKafka(tmp_path, port=busy.getsockname()[1], controller_port=0)
        with pytest.raises(BrokerStartError, match="already in use"):
            broker.start()
    assert not broker.pid_path.exists()


def test_to_bytes() -> None:
    assert to_bytes("é") == "é".encode()
    assert to_bytes(b"\xff") == b"\xff"
    assert to_bytes(None) is None
    with pytest.raises(TypeError, match="int"):
        to_bytes(3)  # type: ignore[arg-type]


# -- the jar cache ------------------------------------------------------------------------------


def test_pom_pins_kafka_and_a_log4j2_backend() -> None:
    pom = maven_pom("4.1.0")
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>4.1.0</version>" in pom
    assert "<artifactId>log4j-core</artifactId>" in pom
    assert "<artifactId>log4j-slf4j2-impl</artifactId>" in pom


def test_kafka_home_rejects_odd_versions(tmp_path: Path) -> None:
    assert kafka_home("4.1.0", tmp_path) == tmp_path / "kafka-4.1.0"
    for bad in ("../x", "4.1", "latest", "4.1.0; rm -rf /"):
        with pytest.raises(ValueError, match="not a Kafka version"):
            kafka_home(bad, tmp_path)


def _fake_mvn(tmp_path: Path, body: str) -> str:
    """A stand-in for Maven: a Python script that records each call and runs ``body``."""
    script = tmp_path / "fake-mvn"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        f"calls = pathlib.Path({str(tmp_path / 'calls')!r})\n"
        "calls.write_text(calls.read_text() + 'x' if calls.exists() else 'x')\n"
        "flag = '-DoutputDirectory='\n"
        "out = pathlib.Path(next(a[len(flag) :] for a in sys.argv if a.startswith(flag)))\n"
        f"{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_jars_are_fetched_once_and_then_reused(tmp_path: Path) -> None:
    mvn = _fake_mvn(
        tmp_path,
        "out.mkdir(parents=True)\n"
        "(out / 'kafka_2.13-4.1.0.jar').write_bytes(b'jar')\n"
        "print('Downloaded from central: https://repo/x/kafka_2.13-4.1.0.jar (6.5 MB at 9 MB/s)')",
    )
    seen: list[str] = []
    libs = ensure_kafka_jars("4.1.0", root=tmp_path / "cache", mvn=mvn, on_progress=seen.append)
    assert libs == tmp_path / "cache" / "kafka-4.1.0" / "libs"
    assert (libs / "kafka_2.13-4.1.0.jar").read_bytes() == b"jar"
    assert seen == ["kafka_2.13-4.1.0.jar (6.5 MB at 9 MB/s)"]
    assert ensure_kafka_jars("4.1.0", root=tmp_path / "cache", mvn=mvn) == libs
    assert (tmp_path / "calls").read_text() == "x"  # the second call did not run Maven


def test_a_failed_download_is_not_marked_complete_and_is_redone(tmp_path: Path) -> None:
    failing = _fake_mvn(
        tmp_path,
        "out.mkdir(parents=True)\n(out / 'half.jar').write_bytes(b'')\nprint('BUILD FAILURE')\nsys.exit(1)",
    )
    with pytest.raises(JarDownloadError, match="BUILD FAILURE"):
        ensure_kafka_jars("4.1.0", root=tmp_path / "cache", mvn=failing)
    home = tmp_path / "cache" / "kafka-4.1.0"
    assert not (home / ".complete").exists()
    assert not (home / "libs").exists()
    working = _fake_mvn(
        tmp_path, "out.mkdir(parents=True)\n(out / 'kafka_2.13-4.1.0.jar').write_bytes(b'jar')"
    )
    libs = ensure_kafka_jars("4.1.0", root=tmp_path / "cache", mvn=working)
    assert sorted(p.name for p in libs.iterdir()) == ["kafka_2.13-4.1.0.jar"]  # no leftover half.jar


def test_missing_maven_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JarDownloadError, match="not on PATH"):
        ensure_kafka_jars("4.1.0", root=tmp_path, mvn="definitely-not-maven-here")


# -- class-data sharing archive ----------------------------------------------------------------


def test_first_start_asks_for_an_archive_and_later_starts_use_it(tmp_path: Path) -> None:
    libs = tmp_path / "kafka-4.1.0" / "libs"
    libs.mkdir(parents=True)
    broker = LocalKafka(tmp_path / "data", port=0, controller_port=0)
    options, pending = broker._cds_options(libs)
    assert pending is not None and pending.name.endswith(".partial")
    assert options[0] == f"-XX:ArchiveClassesAtExit={pending}"

    broker.data_dir.mkdir()
    broker.state_path.write_text(json.dumps({"cds_pending": str(pending)}))
    pending.write_bytes(b"archive")  # what the JVM writes when it exits cleanly
    broker._finish_cds_archive(graceful=True)
    archive = broker._cds_archive(libs)
    assert archive is not None and archive.read_bytes() == b"archive"
    assert not pending.exists()
    assert broker._cds_options(libs) == ([f"-XX:SharedArchiveFile={archive}"], None)
    assert LocalKafka(tmp_path / "x", class_data_sharing=False)._cds_options(libs) == ([], None)


def test_an_archive_from_a_killed_broker_is_discarded(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    libs.mkdir()
    broker = LocalKafka(tmp_path / "data", port=0, controller_port=0)
    _, pending = broker._cds_options(libs)
    assert pending is not None
    broker.data_dir.mkdir()
    broker.state_path.write_text(json.dumps({"cds_pending": str(pending)}))
    pending.write_bytes(b"half")
    broker._finish_cds_archive(graceful=False)
    assert not pending.exists()
    archive = broker._cds_archive(libs)
    assert archive is not None and not archive.exists()


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=0, controller_port=0, java="no-such-java-binary")
    with pytest.raises(BrokerStartError, match="Java 17"):
        broker.start()


def test_cli_takes_its_defaults_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from forewarn.cli import app

    monkeypatch.setenv("FOREWARN_KAFKA__DATA_DIR", str(tmp_path / "from-env"))
    status = CliRunner().invoke(app, ["kafka", "status"])
    assert status.exit_code == 1
    assert status.output.strip() == f"stopped: no Kafka broker running from {tmp_path / 'from-env'}"
    down = CliRunner().invoke(app, ["kafka", "down"])
    assert down.exit_code == 0
    assert "nothing to stop" in down.output

    monkeypatch.setenv("FOREWARN_KAFKA__BOOTSTRAP_SERVERS", "kafka.example.com:9092")
    remote = CliRunner().invoke(app, ["kafka", "up"])
    assert remote.exit_code == 2
    assert "binds 127.0.0.1 only" in remote.output
