"""Topic partitions, replication and configs come from settings, on the real broker.

Why: one process per partition is the ceiling of the dataflow's and responder's parallelism, and a
production cluster wants 3 copies; the defaults (3 x 1) suit one broker only. Here the broker is one
node, so a replication factor of 2 must be refused with a message that says why.
"""

from __future__ import annotations

import logging

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.kafka.io import TopicRefused, ensure_topics, topic_layouts
from forewarn.settings import KafkaSettings, TopicSettings
from tests.conftest import KafkaBroker, prefixed_topics

pytestmark = pytest.mark.integration


def _retention(bootstrap: str, topic: str) -> str | None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entry = found["topic"][topic].get("retention.ms")  # kafka-python 3: {type: {name: {key: entry}}}
        return None if entry is None else str(entry["value"])
    finally:
        admin.close()


def test_new_topics_take_the_configured_partitions_and_configs(
    kafka_broker: KafkaBroker, kafka_topic_prefix: str
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap,
        topic_partitions=5,
        topic_config={"retention.ms": "3600000"},
    )
    name = f"{kafka_topic_prefix}metrics"
    assert ensure_topics(kafka, [name]) == [name]
    [layout] = topic_layouts(kafka, [name])
    assert (layout.partitions, layout.replication_factor) == (5, 1)
    assert _retention(kafka_broker.bootstrap, name) == "3600000"
    assert ensure_topics(kafka, [name]) == []  # idempotent


def test_more_copies_than_brokers_is_refused_with_the_reason(
    kafka_broker: KafkaBroker, kafka_topic_prefix: str
) -> None:
    kafka = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap, topic_replication_factor=2)
    name = f"{kafka_topic_prefix}probes"
    with pytest.raises(TopicRefused, match=r"3 partition\(s\) x 2 replica\(s\)") as refused:
        ensure_topics(kafka, [name])
    assert "number of brokers" in str(refused.value)
    assert topic_layouts(kafka, [name]) == []


def test_an_existing_topic_is_left_as_it_is_and_the_difference_logged(
    kafka_broker: KafkaBroker, kafka_topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"{kafka_topic_prefix}logs"
    ensure_topics(kafka_broker.bootstrap, [name], partitions=2)
    kafka = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap, topic_partitions=6)
    with caplog.at_level(logging.WARNING, logger="forewarn.kafka.io"):
        assert ensure_topics(kafka, [name]) == []
    assert topic_layouts(kafka, [name])[0].partitions == 2
    assert "exists with 2 partition(s) x 1 replica(s), not the 6 x 1 configured" in caplog.text


def _env(broker: KafkaBroker, topics: TopicSettings, **extra: str) -> dict[str, str]:
    env = {"FOREWARN_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap, **extra}
    env.update(
        {f"FOREWARN_TOPICS__{field.upper()}": getattr(topics, field) for field in TopicSettings.model_fields}
    )
    return env


def test_forewarn_kafka_topics_creates_them_on_an_existing_cluster(
    kafka_broker: KafkaBroker, kafka_topic_prefix: str
) -> None:
    topics = prefixed_topics(kafka_topic_prefix)
    runner = CliRunner()
    env = _env(kafka_broker, topics, FOREWARN_KAFKA__TOPIC_PARTITIONS="4")
    result = runner.invoke(app, ["kafka", "topics"], env=env)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(kafka_topic_prefix)]
    assert len(lines) == len(topics.all())
    assert all("\t4 partition(s) x 1 replica(s)\tcreated" in line for line in lines), result.output
    again = runner.invoke(app, ["kafka", "topics", "--partitions", "8"], env=env)
    assert again.exit_code == 0 and "(configured: 8 x 1)" in again.output, again.output
    assert "differ from the configured layout" in again.output
    refused = runner.invoke(
        app,
        ["kafka", "topics", "--replication-factor", "2"],
        env=_env(kafka_broker, prefixed_topics(kafka_topic_prefix + "r.")),
    )
    assert (
        refused.exit_code == 2 and "replication factor cannot exceed the number of brokers" in refused.output
    )
