"""Settings -> client options for both Kafka libraries, and the settings' own consistency rules.

The end-to-end proof is tests/kafka/test_kafka_security.py (a real broker with TLS and SCRAM);
these pin the mapping itself, and check every emitted name against what each library accepts, so a
misspelt option cannot pass silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from pydantic import SecretStr, ValidationError

from forewarn.kafka.client_config import (
    KafkaConfigError,
    kafka_python_config,
    kafka_settings,
    librdkafka_config,
)
from forewarn.settings import KafkaSettings, Settings
from tests.tls import make_pki

pytestmark = pytest.mark.unit


@pytest.fixture
def pem_files(tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("-----BEGIN CERTIFICATE-----\n")  # only existence is checked here
    return files


def _secure(files: dict[str, Path], **changes: Any) -> KafkaSettings:
    values: dict[str, Any] = {
        "bootstrap_servers": "kafka-1:9093, kafka-2:9093",
        "security_protocol": "SASL_SSL",
        "ssl_ca_file": files["ca"],
        "ssl_cert_file": files["cert"],
        "ssl_key_file": files["key"],
        "sasl_username": "forewarn",
        "sasl_password": "s3cret-pw",
    }
    return KafkaSettings(**(values | changes))


def test_plaintext_is_the_default_and_adds_nothing_but_the_address() -> None:
    kafka = KafkaSettings(bootstrap_servers="a:9092,b:9092")
    assert kafka_python_config(kafka) == {
        "bootstrap_servers": ["a:9092", "b:9092"],
        "security_protocol": "PLAINTEXT",
        "reconnect_backoff_max_ms": 1000,  # kafka-python's 30 s would leave a client idle after an outage
    }
    assert librdkafka_config(kafka) == {
        "bootstrap.servers": "a:9092,b:9092",
        "security.protocol": "PLAINTEXT",
    }
    assert kafka_settings("h:1") == KafkaSettings(bootstrap_servers="h:1")
    assert kafka_settings(kafka) is kafka


def test_sasl_ssl_maps_to_both_libraries_names(pem_files: dict[str, Path]) -> None:
    kafka = _secure(pem_files, sasl_mechanism="SCRAM-SHA-256")
    assert kafka_python_config(kafka) == {
        "bootstrap_servers": ["kafka-1:9093", "kafka-2:9093"],
        "security_protocol": "SASL_SSL",
        "reconnect_backoff_max_ms": 1000,
        "ssl_check_hostname": True,
        "ssl_cafile": str(pem_files["ca"]),
        "ssl_certfile": str(pem_files["cert"]),
        "ssl_keyfile": str(pem_files["key"]),
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "forewarn",
        "sasl_plain_password": "s3cret-pw",
    }
    assert librdkafka_config(kafka) == {
        "bootstrap.servers": "kafka-1:9093,kafka-2:9093",
        "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(pem_files["ca"]),
        "ssl.certificate.location": str(pem_files["cert"]),
        "ssl.key.location": str(pem_files["key"]),
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "forewarn",
        "sasl.password": "s3cret-pw",
    }


def test_tls_without_sasl_and_an_encrypted_key(pem_files: dict[str, Path]) -> None:
    kafka = KafkaSettings(
        security_protocol="SSL",
        ssl_cert_file=pem_files["cert"],
        ssl_key_file=pem_files["key"],
        ssl_key_password="key-pw",
    )
    python = kafka_python_config(kafka)
    assert python["ssl_password"] == "key-pw" and "ssl_cafile" not in python  # system trust store
    assert not any(key.startswith("sasl") for key in python)
    rd = librdkafka_config(kafka)
    assert rd["ssl.key.password"] == "key-pw" and "ssl.ca.location" not in rd
    assert not any(key.startswith("sasl") for key in rd)


def test_every_emitted_name_is_one_the_libraries_accept(pem_files: dict[str, Path], tmp_path: Path) -> None:
    kafka = _secure(pem_files, ssl_key_password="key-pw")
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        unknown = set(kafka_python_config(kafka)) - set(client.DEFAULT_CONFIG)
        assert not unknown, f"{client.__name__} does not know {unknown}"
    # librdkafka checks every name and value, and loads the PEM files, when a client is made.
    pki = make_pki(tmp_path / "pki")
    real = _secure({"ca": pki.ca_cert, "cert": pki.client_cert, "key": pki.client_key})
    Producer(librdkafka_config(real)).flush(0)


def test_a_missing_file_is_named_by_its_setting(pem_files: dict[str, Path]) -> None:
    pem_files["ca"].unlink()
    kafka = _secure(pem_files)
    for mapping in (kafka_python_config, librdkafka_config):
        with pytest.raises(KafkaConfigError, match=r"kafka\.ssl_ca_file: .*ca\.pem is not a readable file"):
            mapping(kafka)


def test_the_password_never_shows_in_settings_output(pem_files: dict[str, Path]) -> None:
    settings = Settings(kafka=_secure(pem_files, ssl_key_password="key-pw"))
    shown = [repr(settings), str(settings.kafka), settings.model_dump_json()]
    for text in shown:
        assert "s3cret-pw" not in text and "key-pw" not in text
    assert isinstance(settings.kafka.sasl_password, SecretStr)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"security_protocol": "PLAINTEXT", "sasl_username": "", "sasl_password": ""},
            "ssl_\\* options need",
        ),
        ({"sasl_password": ""}, "needs sasl_username and sasl_password"),
        ({"sasl_username": ""}, "needs sasl_username and sasl_password"),
        ({"ssl_key_file": None}, "ssl_cert_file and ssl_key_file go together"),
        ({"security_protocol": "SSL"}, "sasl_username/sasl_password need security_protocol SASL"),
        ({"security_protocol": "TLS"}, "'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL'"),
        ({"sasl_mechanism": "GSSAPI"}, "'SCRAM-SHA-512', 'SCRAM-SHA-256' or 'PLAIN'"),
    ],
)
def test_settings_the_protocol_would_ignore_are_errors(
    pem_files: dict[str, Path], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _secure(pem_files, **changes)
