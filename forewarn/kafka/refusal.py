"""Why a broker refuses forewarn: a TLS certificate it cannot trust, or SASL credentials it rejects.

Why this exists: kafka-python logs the real cause of a failed connection (``CERTIFICATE_VERIFY_FAILED``,
``SaslAuthenticationFailedError``) but raises only "Unable to bootstrap", so with a wrong password a
process waited out its whole start timeout (90 s) and then blamed a broker that was up. librdkafka
reports both causes as typed errors (``_SSL``, ``_AUTHENTICATION``) through ``error_cb``, so after a
failed connection with security on, one short librdkafka attempt with the same settings
(``client_config``) tells a refusal, which waiting cannot fix, from a broker that is not up yet.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from forewarn.kafka.client_config import librdkafka_config
from forewarn.settings import KafkaSettings

__all__ = ["KafkaRefused", "security_refusal"]

log = logging.getLogger(__name__)


class KafkaRefused(RuntimeError):
    """A broker answered but refused the connection's TLS or SASL: settings, not waiting, fix it."""


def _hint(kafka: KafkaSettings, tls_error: bool) -> str:
    if tls_error:
        trusted = str(kafka.ssl_ca_file) if kafka.ssl_ca_file else "the system trust store"
        return f"the broker's certificate must be signed by a CA in kafka.ssl_ca_file ({trusted})"
    return (
        f"check kafka.sasl_username ({kafka.sasl_username!r}), kafka.sasl_password and "
        f"kafka.sasl_mechanism ({kafka.sasl_mechanism})"
    )


def security_refusal(kafka: KafkaSettings, timeout: float = 2.0) -> KafkaRefused | None:
    """The refusal a broker gives these settings within ``timeout`` s; None if it gives none.

    None also when the broker cannot be reached at all, or when security is off (nothing to refuse).
    """
    if kafka.security_protocol == "PLAINTEXT":
        return None
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[Any] = []
    config: dict[str, Any] = {
        **librdkafka_config(kafka),
        "client.id": f"{kafka.client_id}-check",
        "error_cb": errors.append,
        "logger": log,  # librdkafka's lines through logging, not raw to stderr
        "reconnect.backoff.max.ms": 500,
    }
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=min(0.5, max(0.05, deadline - time.monotonic())))
            return None  # it answers: whatever failed was not a refusal
        except KafkaException:
            pass
        admin.poll(0)
        for error in errors:
            if error.code() in (KafkaError._SSL, KafkaError._AUTHENTICATION):
                tls_error = error.code() == KafkaError._SSL
                return KafkaRefused(
                    f"the Kafka broker at {kafka.bootstrap_servers} refused forewarn "
                    f"({kafka.security_protocol}): {error.str()}; {_hint(kafka, tls_error)}"
                )
    return None
