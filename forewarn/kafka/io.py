"""Small kafka-python helpers shared by the probe runner, the log shipper, tools, tests and the demo.

Why a module of helpers rather than a client wrapper class: producers and consumers are used
directly by their callers (and injected into them for tests); what repeats everywhere is only how
to build one from settings, how to make sure topics exist, how to wait for a broker and how to read
a topic back in a test. The dataflow itself reads Kafka through Bytewax's KafkaSource, not this.

Every helper takes the broker as ``KafkaSettings`` (processes: TLS and SASL included, through
``client_config``) or as a bare ``host:port`` string (tools and tests on a plaintext broker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    KafkaError,
    TopicAlreadyExistsError,
)
from kafka.serializer import Serializer

from forewarn.kafka.client_config import kafka_python_config, kafka_settings
from forewarn.kafka.refusal import KafkaRefused, security_refusal
from forewarn.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)

__all__ = [
    "BytesOrStr",
    "ConsumerRecord",
    "KafkaNotReady",
    "KafkaRefused",
    "TopicLayout",
    "TopicRefused",
    "ensure_topics",
    "make_producer",
    "read_topic",
    "to_bytes",
    "topic_layouts",
    "wait_until_ready",
]


class TopicRefused(KafkaRefused):
    """The cluster refused to create a topic as configured (kafka.topic_*): settings fix it, not waiting."""


class KafkaNotReady(TimeoutError):
    """No broker answered at the bootstrap address within the timeout."""


def to_bytes(value: bytes | str | None) -> bytes | None:
    """Serializer for keys and values: bytes pass through, str is UTF-8 encoded, None stays None.

    Accepting both means callers can send ``event.model_dump_json()`` and raw bytes (tests of the
    dead-letter path send deliberately broken bytes) through the same producer.
    """
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"Kafka keys and values must be bytes or str, got {type(value).__name__}")


class BytesOrStr(Serializer):  # type: ignore[misc]  # kafka-python ships no type hints
    """kafka-python serializer form of :func:`to_bytes` (for keys and values)."""

    def serialize(self, topic: str, headers: list[tuple[str, bytes]], data: Any) -> bytes | None:
        return to_bytes(data)


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer for ``settings.kafka.bootstrap_servers`` that accepts str or bytes keys/values.

    ``acks="all"`` and idempotence keep per-key order even when a send is retried; ``linger_ms``
    batches a little for throughput. Any kafka-python option can be overridden.
    """
    options: dict[str, Any] = {
        **kafka_python_config(settings.kafka),
        "client_id": settings.kafka.client_id,
        "acks": "all",
        "linger_ms": 5,
        "key_serializer": BytesOrStr(),
        "value_serializer": BytesOrStr(),
    }
    options.update(overrides)
    return KafkaProducer(**options)


def _admin(kafka: KafkaSettings, timeout: float) -> KafkaAdminClient:
    """An admin client; if it cannot connect with security on, :class:`KafkaRefused` says why when
    the broker refused our certificate check or credentials (kafka-python only says it timed out)."""
    timeout_ms = max(500, int(timeout * 1000))
    try:
        return KafkaAdminClient(
            **kafka_python_config(kafka),
            client_id="forewarn-admin",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except (KafkaError, OSError) as error:
        refusal = security_refusal(kafka, timeout=min(2.0, timeout))
        if refusal is not None:
            raise refusal from error
        raise


def wait_until_ready(bootstrap: KafkaSettings | str, timeout: float = 30.0) -> str:
    """Once a broker at ``bootstrap`` lists itself in cluster metadata, return the cluster's id (a new
    one each time a KRaft cluster is formatted); else KafkaNotReady.

    A broker that refuses our TLS or SASL settings raises :class:`KafkaRefused` at once: waiting
    does not change credentials.
    """
    kafka = kafka_settings(bootstrap)
    kafka_python_config(kafka)  # a missing certificate file is an error now, not after the timeout
    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KafkaNotReady(
                f"no Kafka broker answered at {kafka.bootstrap_servers} within {timeout:.1f}s ({last_error})"
            )
        try:
            admin = _admin(kafka, min(remaining, 5.0))
            try:
                cluster = admin.describe_cluster()
            finally:
                admin.close()
            if cluster.get("brokers"):
                return str(cluster.get("cluster_id"))
            last_error = "metadata lists no broker yet"
        except (KafkaError, OSError, ValueError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


@dataclass(frozen=True)
class TopicLayout:
    """How a topic is laid out on the cluster: its partitions and the copies of each."""

    name: str
    partitions: int
    replication_factor: int


def ensure_topics(
    bootstrap: KafkaSettings | str,
    names: Iterable[str],
    partitions: int | None = None,
    *,
    replication_factor: int | None = None,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics that are missing and wait until every partition has a leader.

    Partitions, replication factor and topic configs default to ``kafka.topic_*`` when ``bootstrap`` is
    settings (3, 1, none for a bare address). Idempotent: existing topics are left as they are (their
    layout is not changed; a difference from the one asked for is logged). Returns the names created.
    A layout the cluster cannot hold (more copies than brokers) raises :class:`TopicRefused` saying so.
    """
    kafka = kafka_settings(bootstrap)
    partitions = partitions if partitions is not None else kafka.topic_partitions
    replication = replication_factor if replication_factor is not None else kafka.topic_replication_factor
    configs = dict(config if config is not None else kafka.topic_config)
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    admin = _admin(kafka, timeout)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        created: list[str] = []
        for name in missing:
            topic = NewTopic(
                name, num_partitions=partitions, replication_factor=replication, topic_configs=configs
            )
            try:
                admin.create_topics([topic], timeout_ms=int(timeout * 1000))
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another client (or auto-creation) won the race; that is fine
            except (InvalidReplicationFactorError, InvalidPartitionsError, InvalidConfigurationError) as exc:
                raise TopicRefused(
                    f"cannot create topic {name} with {partitions} partition(s) x {replication} "
                    f"replica(s), configs {configs or '{}'}: {type(exc).__name__}: {exc} (kafka.topic_* "
                    "settings; a replication factor cannot exceed the number of brokers)"
                ) from exc
        admin.wait_for_topics(wanted, timeout_ms=int(timeout * 1000))
        for layout in _layouts(admin, [n for n in wanted if n not in created]):
            if (layout.partitions, layout.replication_factor) != (partitions, replication):
                log.warning(
                    "topic %s exists with %d partition(s) x %d replica(s), not the %d x %d configured; "
                    "left as it is (change it with kafka-topics.sh --alter)",
                    layout.name,
                    layout.partitions,
                    layout.replication_factor,
                    partitions,
                    replication,
                )
        return created
    finally:
        admin.close()


def topic_layouts(
    bootstrap: KafkaSettings | str, names: Iterable[str], timeout: float = 30.0
) -> list[TopicLayout]:
    """The partitions and replication factor of existing topics (missing ones are left out)."""
    admin = _admin(kafka_settings(bootstrap), timeout)
    try:
        existing = set(admin.list_topics())
        return _layouts(admin, [name for name in dict.fromkeys(names) if name in existing])
    finally:
        admin.close()


def _layouts(admin: KafkaAdminClient, names: list[str]) -> list[TopicLayout]:
    if not names:
        return []
    out = []
    for topic in admin.describe_topics(names):
        parts = topic.get("partitions") or []
        replicas = min((len(p.get("replica_nodes") or []) for p in parts), default=0)
        out.append(TopicLayout(topic["name"], len(parts), replicas))
    return out


def read_topic(
    bootstrap: KafkaSettings | str,
    topic: str,
    *,
    timeout: float = 10.0,
    max_messages: int | None = None,
    from_beginning: bool = True,
) -> list[ConsumerRecord]:
    """Read records of one topic without a consumer group (nothing is committed).

    - ``max_messages=None``: everything up to the end offsets seen when the topic is found, then
      return (does not wait for more); ``timeout`` bounds the whole call.
    - ``max_messages=N``: wait up to ``timeout`` for N records (including ones produced later).
    - ``from_beginning=False`` starts at the current end (only records produced after the call).

    Records keep Kafka's order within each partition (so per key); partitions are interleaved.
    A topic that does not exist within ``timeout`` gives an empty list.
    """
    deadline = time.monotonic() + timeout
    consumer = KafkaConsumer(
        **kafka_python_config(kafka_settings(bootstrap)),
        client_id="forewarn-reader",
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        fetch_max_wait_ms=100,
    )
    try:
        partitions = _wait_for_partitions(consumer, topic, deadline)
        if not partitions:
            return []
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.seek_to_end(*partitions)
            for partition in partitions:
                consumer.position(partition)  # resolve "end" now, not at the first poll
        targets: dict[TopicPartition, int] = {}
        if max_messages is None:
            targets = {tp: off for tp, off in consumer.end_offsets(partitions).items() if off > 0}
        records: list[ConsumerRecord] = []
        while True:
            if max_messages is not None and len(records) >= max_messages:
                return records[:max_messages]
            if max_messages is None and all(consumer.position(tp) >= end for tp, end in targets.items()):
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return records
            batch = consumer.poll(timeout_ms=int(min(remaining, 0.5) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        consumer.close()


def _wait_for_partitions(consumer: KafkaConsumer, topic: str, deadline: float) -> list[TopicPartition]:
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.1)
