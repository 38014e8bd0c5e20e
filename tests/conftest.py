"""Session-wide fixtures: one real Kafka broker for every test that asks for it.

Why one broker per session: a KRaft broker starts in a few seconds, but dozens of integration tests
each starting their own would dominate the suite's run time. Tests share it safely by using unique
topic names (``kafka_topic_prefix`` / ``kafka_settings``), so they never see each other's messages.
The broker binds 127.0.0.1 on free ports with a temporary data dir, and is only started when a test
requests it, so unit-only runs never pay for the JVM.

``FOREWARN_TEST_KAFKA_BOOTSTRAP=host:port`` points the fixture at an already running broker
instead (handy while iterating); it is still a real broker, never a mock.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from forewarn.settings import KafkaSettings, Settings, TopicSettings

if TYPE_CHECKING:
    from forewarn.dev.broker import LocalKafka

EXTERNAL_BOOTSTRAP_ENV = "FOREWARN_TEST_KAFKA_BOOTSTRAP"


@dataclass(frozen=True)
class KafkaBroker:
    """What tests get: where the broker is, and (when we started it) where its log is."""

    bootstrap: str
    log_path: Path | None = None
    data_dir: Path | None = None


def local_broker(data_dir: Path) -> LocalKafka:
    """A real local broker (not started yet) on free ports, dying with the test process."""
    from forewarn.dev.broker import LocalKafka
    from forewarn.settings import load_settings

    return LocalKafka(
        data_dir,
        port=0,
        controller_port=0,
        version=load_settings().kafka.version,
        start_timeout=120.0,
        die_with_parent=True,
    )


def prefixed_topics(prefix: str) -> TopicSettings:
    """Every forewarn topic renamed with ``prefix``, so tests sharing a broker never meet."""
    defaults = TopicSettings()
    return TopicSettings(**{field: prefix + getattr(defaults, field) for field in TopicSettings.model_fields})


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real Kafka 4.x broker for the whole session (started on first request, stopped at the end)."""
    external = os.environ.get(EXTERNAL_BOOTSTRAP_ENV)
    if external:
        from forewarn.kafka.io import wait_until_ready

        wait_until_ready(external, timeout=30.0)
        yield KafkaBroker(bootstrap=external)
        return

    data_dir = tmp_path_factory.mktemp("kafka-broker")
    broker = local_broker(data_dir)
    broker.start()
    try:
        yield KafkaBroker(bootstrap=broker.bootstrap, log_path=broker.log_path, data_dir=data_dir)
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix unique to this test, e.g. ``t.test_round_trip.3f9a1c2e.`` (valid Kafka topic chars)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60].strip("-")
    return f"t.{name}.{uuid.uuid4().hex[:8]}."


@pytest.fixture
def kafka_settings(kafka_broker: KafkaBroker, kafka_topic_prefix: str) -> Settings:
    """Settings pointing at the session broker, with every forewarn topic renamed uniquely for this test.

    The topics are created (3 partitions) before the test starts, as ``forewarn kafka up`` and the
    demo do: a topic auto-created by a first produce briefly has no leader on KRaft, and tests
    should not depend on that race.
    """
    from forewarn.kafka.io import ensure_topics

    topics = prefixed_topics(kafka_topic_prefix)
    ensure_topics(kafka_broker.bootstrap, topics.all(), partitions=3)
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_broker.bootstrap,
            consumer_group=f"{kafka_topic_prefix}group",
        ),
        topics=topics,
    )
