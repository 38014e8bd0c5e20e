"""Where and how to reach Kafka, as each client library spells it: one mapping per library.

Why one place: forewarn builds Kafka clients with two libraries (kafka-python for the producers,
consumers and topic admin of every process; librdkafka, through confluent-kafka, for the dataflow's
Bytewax source and sinks), and each spells TLS and SASL differently (``ssl_cafile`` versus
``ssl.ca.location``). A client built anywhere else would connect in plaintext the day an operator
turns security on, so every client's connection options come from :func:`kafka_python_config` or
:func:`librdkafka_config`.

The SASL password is read out of its ``SecretStr`` only into the returned dict, which goes straight
to the client; nothing here logs it. A missing certificate or key file is reported with the name
of the setting, at the moment the client is built, instead of as a library's TLS error later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forewarn.settings import KafkaSettings

__all__ = ["KafkaConfigError", "kafka_python_config", "kafka_settings", "librdkafka_config"]


class KafkaConfigError(ValueError):
    """The Kafka settings name a file that is not there (a CA, a certificate or a key)."""


def kafka_settings(target: KafkaSettings | str) -> KafkaSettings:
    """``target`` itself, or for a bare ``host:port[,...]`` string, plaintext settings for it.

    Helpers that tools and tests call with just an address (``ensure_topics("127.0.0.1:9092")``)
    accept either; the processes pass their ``settings.kafka``, security included.
    """
    return target if isinstance(target, KafkaSettings) else KafkaSettings(bootstrap_servers=target)


def _file(kafka: KafkaSettings, name: str) -> str | None:
    path: Path | None = getattr(kafka, name)
    if path is None:
        return None
    if not path.is_file():
        raise KafkaConfigError(f"kafka.{name}: {path} is not a readable file")
    return str(path)


def _brokers(kafka: KafkaSettings) -> list[str]:
    return [broker.strip() for broker in kafka.bootstrap_servers.split(",") if broker.strip()]


# setting -> (kafka-python keyword, librdkafka property)
_TLS_FILES = {
    "ssl_ca_file": ("ssl_cafile", "ssl.ca.location"),
    "ssl_cert_file": ("ssl_certfile", "ssl.certificate.location"),
    "ssl_key_file": ("ssl_keyfile", "ssl.key.location"),
}


# kafka-python doubles its wait between reconnects up to 30 s, so after an outage a client could sit
# up to 30 s beside a broker that is back; 1 s is the Java client's reconnect.backoff.max.ms.
RECONNECT_BACKOFF_MAX_MS = 1000


def kafka_python_config(kafka: KafkaSettings) -> dict[str, Any]:
    """kafka-python keyword arguments (``KafkaProducer``/``KafkaConsumer``/``KafkaAdminClient``):
    the bootstrap servers, the reconnect back-off cap and, when enabled, TLS and SASL. Host names
    are always checked."""
    config: dict[str, Any] = {
        "bootstrap_servers": _brokers(kafka),
        "security_protocol": kafka.security_protocol,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = True
        for name, (key, _) in _TLS_FILES.items():
            if (path := _file(kafka, name)) is not None:
                config[key] = path
        if kafka.ssl_key_password is not None:
            config["ssl_password"] = kafka.ssl_key_password.get_secret_value()
    if kafka.security_protocol.startswith("SASL_"):
        config["sasl_mechanism"] = kafka.sasl_mechanism
        config["sasl_plain_username"] = kafka.sasl_username
        config["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return config


def librdkafka_config(kafka: KafkaSettings) -> dict[str, str]:
    """librdkafka properties (confluent-kafka, Bytewax's ``add_config``): the same as
    :func:`kafka_python_config`, in librdkafka's names. Host names are always checked."""
    config = {"bootstrap.servers": ",".join(_brokers(kafka)), "security.protocol": kafka.security_protocol}
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl.endpoint.identification.algorithm"] = "https"
        for name, (_, key) in _TLS_FILES.items():
            if (path := _file(kafka, name)) is not None:
                config[key] = path
        if kafka.ssl_key_password is not None:
            config["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    if kafka.security_protocol.startswith("SASL_"):
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username
        config["sasl.password"] = kafka.sasl_password.get_secret_value()
    return config
