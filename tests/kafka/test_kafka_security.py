"""Every Kafka client of forewarn over TLS + SCRAM, against a real broker with certificates made here.

The broker (``forewarn.dev.broker`` with a ``SecureListener``) has a SASL_SSL listener whose users
exist only as SCRAM credentials, and a server certificate from a CA made by the test. The settings
name only that listener, so a client that ignored them (plaintext, or no credentials) could not get
a single message through: the publisher of the probe runner and log shipper, the topic admin, the
consume loop of the responder and the store sink, ``read_topic``, and ``forewarn run``'s Bytewax
source and sinks (librdkafka). The refusals (a wrong password, an untrusted CA) must be reported
with their cause within a bounded time, not as a hang or a "broker not answering".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.dev.broker import LocalKafka, SecureListener, find_free_port
from forewarn.events import Detection
from forewarn.kafka.client_config import librdkafka_config
from forewarn.kafka.consume import ConsumeLoop, make_consumer
from forewarn.kafka.io import KafkaNotReady, KafkaRefused, ensure_topics, read_topic, wait_until_ready
from forewarn.kafka.publisher import KafkaPublisher, kafka_producer_factory
from forewarn.kafka.refusal import security_refusal
from forewarn.settings import KafkaSettings, Settings
from tests.conftest import prefixed_topics
from tests.pipeline.kafka_process import probe, start_dataflow
from tests.tls import Pki, make_pki

pytestmark = pytest.mark.integration

USER, PASSWORD = "forewarn", "tls-and-scram-0"


class SecureBroker:
    def __init__(self, broker: LocalKafka, pki: Pki, folder: Path) -> None:
        self.broker, self.pki, self.folder = broker, pki, folder

    def kafka(self, **changes: object) -> KafkaSettings:
        """Settings for the SASL_SSL listener (with a client certificate: mutual TLS)."""
        values: dict[str, object] = {
            "bootstrap_servers": self.broker.secure_bootstrap,
            "security_protocol": "SASL_SSL",
            "ssl_ca_file": self.pki.ca_cert,
            "ssl_cert_file": self.pki.client_cert,
            "ssl_key_file": self.pki.client_key,
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": USER,
            "sasl_password": PASSWORD,
            "start_timeout_seconds": 20.0,
        }
        return KafkaSettings(**(values | changes))


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    folder = tmp_path_factory.mktemp("kafka-secure")
    pki = make_pki(folder / "pki")
    listener = SecureListener(pki.server_cert, pki.server_key, ca_file=pki.ca_cert, users={USER: PASSWORD})
    broker = LocalKafka(
        folder / "data", port=0, controller_port=0, start_timeout=120.0, die_with_parent=True, secure=listener
    )
    broker.start()
    try:
        yield SecureBroker(broker, pki, folder)
    finally:
        broker.stop()


def test_every_client_works_over_tls_and_scram(
    secure_broker: SecureBroker, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(
        kafka=secure_broker.kafka(consumer_group=f"{kafka_topic_prefix}group"),
        topics=prefixed_topics(kafka_topic_prefix),
    )
    topics = settings.topics
    assert sorted(ensure_topics(settings.kafka, topics.all(), partitions=1)) == sorted(topics.all())

    # The probe runner's and log shipper's buffered publisher.
    publisher = KafkaPublisher(kafka_producer_factory(settings.kafka, "forewarn-probe"), name="secure Kafka")
    start = datetime.now(UTC) - timedelta(seconds=60)
    for i in range(20):
        publisher.publish(topics.probes, "payments", probe("payments", start + timedelta(seconds=i), i < 15))
    publisher.flush(timeout=20)
    assert publisher.stats().delivered == 20
    publisher.close()

    # `forewarn run`: the runner's admin calls (kafka-python), then Bytewax's source and sinks (librdkafka).
    with start_dataflow(settings, tmp_path) as dataflow:
        assert any("(SASL_SSL)" in line for line in dataflow.lines if "dataflow running" in line)
        # The responder's and store sink's consume loop reads what the dataflow wrote.
        consumer = make_consumer(
            settings, [topics.detections], group_id=f"{kafka_topic_prefix}reader", client="test"
        )
        seen: list[Detection] = []
        stop = threading.Event()

        def handle(topic: str, value: bytes | None) -> None:
            assert value is not None
            seen.append(Detection.model_validate_json(value))
            stop.set()

        try:
            ConsumeLoop(consumer, handle).run(stop, max_seconds=60)
        finally:
            consumer.close()
        assert seen, "no detection over SASL_SSL within 60 s:\n" + "\n".join(dataflow.lines[-30:])
    assert seen[0].service == "payments" and seen[0].detection_kind == "failure"
    # And read_topic (tests, tools) sees the probes the publisher wrote.
    assert len(read_topic(settings.kafka, topics.probes, timeout=20)) == 20


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
def test_the_other_sasl_mechanisms_work_with_both_libraries(
    secure_broker: SecureBroker, kafka_topic_prefix: str, mechanism: str
) -> None:
    kafka = secure_broker.kafka(sasl_mechanism=mechanism, ssl_cert_file=None, ssl_key_file=None)
    topic = f"{kafka_topic_prefix}{mechanism.lower()}"
    ensure_topics(kafka, [topic], partitions=1)  # kafka-python
    producer = Producer(librdkafka_config(kafka))  # librdkafka
    producer.produce(topic, key=b"k", value=mechanism.encode())
    assert producer.flush(20) == 0
    assert [r.value for r in read_topic(kafka, topic, timeout=20)] == [mechanism.encode()]


def test_a_wrong_password_is_refused_with_its_cause(secure_broker: SecureBroker) -> None:
    kafka = secure_broker.kafka(sasl_password="not-the-password")
    began = time.monotonic()
    with pytest.raises(KafkaRefused) as refused:
        wait_until_ready(kafka, timeout=20)
    assert time.monotonic() - began < 20  # refused at once, not after waiting out the timeout
    assert "invalid credentials" in str(refused.value) and "kafka.sasl_password" in str(refused.value)
    assert "not-the-password" not in str(refused.value)

    # The publisher keeps buffering, and its warning says why instead of "Unable to bootstrap".
    factory = kafka_producer_factory(kafka, "forewarn-probe", timeout_seconds=2.0)
    with pytest.raises(KafkaRefused, match="invalid credentials"):
        factory()


def test_an_untrusted_ca_is_refused_and_the_cli_says_so(
    secure_broker: SecureBroker, kafka_topic_prefix: str
) -> None:
    other = make_pki(secure_broker.folder / f"other-{kafka_topic_prefix}")
    kafka = secure_broker.kafka(ssl_ca_file=other.ca_cert)
    with pytest.raises(KafkaRefused, match="certificate verify failed") as refused:
        wait_until_ready(kafka, timeout=20)
    assert str(other.ca_cert) in str(refused.value)

    # `forewarn run` stops with the cause and exit code 2.
    env = {
        f"FOREWARN_KAFKA__{key.upper()}": str(
            value.get_secret_value() if isinstance(value, SecretStr) else value
        )
        for key, value in kafka.model_dump(exclude_none=True).items()
        if key in {"bootstrap_servers", "security_protocol", "ssl_ca_file", "sasl_username", "sasl_password"}
        or key == "start_timeout_seconds"
    }
    result = CliRunner().invoke(app, ["run", "--metrics-port", "0"], env=env)
    assert result.exit_code == 2, result.output
    assert "refused forewarn (SASL_SSL)" in result.output and "certificate verify failed" in result.output


def test_the_secure_listener_refuses_a_plaintext_client(secure_broker: SecureBroker) -> None:
    with pytest.raises(KafkaNotReady):
        wait_until_ready(secure_broker.broker.secure_bootstrap, timeout=3)


def test_a_broker_that_is_down_is_not_called_a_refusal(secure_broker: SecureBroker) -> None:
    """Only the broker's own refusal fails fast; no broker at all is still waited for."""
    kafka = secure_broker.kafka(bootstrap_servers=f"127.0.0.1:{find_free_port()}")
    assert security_refusal(kafka, timeout=1.0) is None
    with pytest.raises(KafkaNotReady) as waited:
        wait_until_ready(kafka, timeout=2)
    assert not isinstance(waited.value, KafkaRefused)
