"""End to end on real parts: probes and logs of the real MusoBuddy demo app, over real HTTP, into
topics of the real Kafka broker, read back and validated by the dataflow's own ``parse_message``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from forewarn.collect.follow import FileFollower
from forewarn.collect.probe import ProbeRunner, make_client
from forewarn.collect.shipper import LogShipper
from forewarn.events import LogLevel, LogRecord, ProbeResult
from forewarn.ingest import RawMessage, parse_message
from forewarn.kafka.io import read_topic
from forewarn.kafka.publisher import KafkaPublisher, kafka_producer_factory
from forewarn.musobuddy.server import running_app
from forewarn.settings import Settings

pytestmark = pytest.mark.integration

SERVICES = ["auth", "database", "email", "sms", "payments", "overall"]


def _parse_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes | None, object]]:
    records = read_topic(bootstrap, topic, timeout=30.0, max_messages=expected)
    settings = Settings()
    return [
        (
            r.key,
            parse_message(
                RawMessage(r.value, topic=r.topic, key=r.key, partition=r.partition, offset=r.offset),
                settings.ingest,
            ),
        )
        for r in records
    ]


def test_probes_of_the_demo_app_land_on_kafka_and_parse(kafka_settings: Settings, tmp_path: Path) -> None:
    bootstrap = kafka_settings.kafka.bootstrap_servers
    publisher = KafkaPublisher(kafka_producer_factory(bootstrap, "forewarn-test-probe"), buffer_size=100)
    try:
        with running_app(log_path=tmp_path / "musobuddy.jsonl") as base_url:
            probe_settings = kafka_settings.probe.model_copy(
                update={"base_url": base_url, "retries": 0, "timeout_seconds": 5.0}
            )

            async def two_rounds() -> tuple[list[ProbeResult], list[ProbeResult]]:
                async with make_client(probe_settings.timeout_seconds) as client:
                    runner = ProbeRunner(probe_settings, client, publisher, kafka_settings.topics.probes)
                    healthy = await runner.run_round()
                    async with httpx.AsyncClient() as admin:
                        (await admin.post(f"{base_url}/api/faults/db_outage")).raise_for_status()
                    broken = await runner.run_round()
                    await runner.drain()  # publishing runs in the background; wait for it
                    return healthy, broken

            healthy, broken = asyncio.run(two_rounds())
    finally:
        publisher.close(timeout=10.0)

    assert [r.service for r in healthy] == SERVICES
    assert all(r.ok for r in healthy), [(r.service, r.error) for r in healthy if not r.ok]
    database = {r.service: r for r in broken}["database"]
    assert not database.ok and database.status == "down" and database.status_code == 503

    stats = publisher.stats()
    assert (stats.delivered, stats.buffered, stats.in_flight, stats.dropped) == (12, 0, 0, 0)

    parsed = _parse_all(bootstrap, kafka_settings.topics.probes, expected=12)
    assert len(parsed) == 12
    events = [event for _, event in parsed]
    assert all(isinstance(event, ProbeResult) for event in events), events
    for key, event in parsed:
        assert isinstance(event, ProbeResult) and key == event.service.encode()
    # Kafka keeps order per key: each service's healthy probe comes before its broken one.
    by_service: dict[str, list[ProbeResult]] = {}
    for event in events:
        assert isinstance(event, ProbeResult)
        by_service.setdefault(event.service, []).append(event)
    assert sorted(by_service) == sorted(SERVICES)
    assert [p.ok for p in by_service["database"]] == [True, False]
    assert by_service["database"][1].status == "down"
    assert set(by_service["database"][0].details) >= {"checks"}


def test_demo_app_logs_are_shipped_and_parse(kafka_settings: Settings, tmp_path: Path) -> None:
    bootstrap = kafka_settings.kafka.bootstrap_servers
    log_path = tmp_path / "musobuddy.jsonl"
    publisher = KafkaPublisher(kafka_producer_factory(bootstrap, "forewarn-test-logs"), buffer_size=1000)
    shipper = LogShipper(publisher, "musobuddy", kafka_settings.topics.logs, service_field="service")
    try:
        with running_app(log_path=log_path) as base_url, FileFollower(log_path, from_start=True) as tail:
            with httpx.Client() as client:
                client.post(f"{base_url}/api/faults/db_outage").raise_for_status()
                assert client.get(f"{base_url}/api/health/database").status_code == 503
            shipped = shipper.ship_lines(tail.read_available())
    finally:
        publisher.close(timeout=10.0)
    assert shipped >= 3
    assert publisher.stats().delivered == shipped

    parsed = _parse_all(bootstrap, kafka_settings.topics.logs, expected=shipped)
    assert len(parsed) == shipped
    records = [event for _, event in parsed]
    assert all(isinstance(r, LogRecord) for r in records), records
    errors = [r for r in records if isinstance(r, LogRecord) and r.level is LogLevel.ERROR]
    # the outage is in the logs, keyed by the subsystem the app named
    assert any(r.service == "database" and "database" in r.message for r in errors), errors
    assert all(key == event.service.encode() for key, event in parsed if isinstance(event, LogRecord))
