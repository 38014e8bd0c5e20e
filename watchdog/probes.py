"""The watchdog's reads: each component's ``/metrics`` over HTTP, and lag and event times from Kafka.

Why short-lived Kafka clients: the watchdog must keep working while the broker is away and notice
when it is back; a client built per round (every ``interval_seconds``) cannot be stuck in a broken
state, and a failure becomes a finding ("lag unknown: ...") instead of an exception.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from forewarn.kafka.client_config import kafka_python_config
from forewarn.settings import KafkaSettings

__all__ = ["KafkaReader", "fetch_metrics"]


def _behind(consumer: Any, committed: dict[Any, Any]) -> dict[str, int]:
    """Messages not yet committed, per topic, over every partition of the topics the group commits to.

    Why every partition: a consumer commits only the partitions it has consumed from, so a partition
    that got its first messages while the consumer was down has no commit at all; it counts from its
    beginning offset (what a group reading from the earliest offset still has to read).
    """
    from kafka import TopicPartition

    parts = {
        TopicPartition(topic, p)
        for topic in {tp.topic for tp in committed}
        for p in (consumer.partitions_for_topic(topic) or ())
    } | set(committed)
    if not parts:
        return {}
    ends = consumer.end_offsets(list(parts))
    missing = [tp for tp in parts if tp not in committed]
    starts = consumer.beginning_offsets(missing) if missing else {}
    behind: dict[str, int] = {}
    for tp in parts:
        done = committed[tp].offset if tp in committed else starts.get(tp, 0)
        behind[tp.topic] = behind.get(tp.topic, 0) + max(0, ends.get(tp, 0) - done)
    return behind


def fetch_metrics(client: httpx.Client, url: str) -> tuple[str | None, str]:
    """(the exposition text, "") or (None, why it could not be read)."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:200]
    if response.status_code != 200:
        return None, f"HTTP {response.status_code}"
    return response.text, ""


class KafkaReader:
    """Lag per consumer group and the newest message time per topic, with one round's clients."""

    def __init__(self, kafka: KafkaSettings, timeout_seconds: float = 5.0) -> None:
        self.kafka = kafka
        self.timeout_ms = max(500, int(timeout_seconds * 1000))

    def _options(self) -> dict[str, Any]:
        return {
            **kafka_python_config(self.kafka),
            "client_id": f"{self.kafka.client_id}-watchdog",
            "request_timeout_ms": max(self.timeout_ms, 1000) + 500,
            "enable_auto_commit": False,  # it reads positions only, in no group
        }

    def lag(self, groups: list[str]) -> dict[str, tuple[dict[str, int] | None, str]]:
        """``group -> ({topic: messages behind}, "")`` or ``(None, why)``."""
        from kafka import KafkaAdminClient, KafkaConsumer

        out: dict[str, tuple[dict[str, int] | None, str]] = {}
        try:
            admin = KafkaAdminClient(
                **kafka_python_config(self.kafka),
                client_id=f"{self.kafka.client_id}-watchdog",
                request_timeout_ms=self.timeout_ms,
                bootstrap_timeout_ms=self.timeout_ms,
            )
        except Exception as exc:  # the broker is away: every group's lag is unknown
            return {g: (None, f"{type(exc).__name__}: {exc}"[:200]) for g in groups}
        try:
            try:
                consumer = KafkaConsumer(**self._options())
            except Exception as exc:
                return {g: (None, f"{type(exc).__name__}: {exc}"[:200]) for g in groups}
            try:
                for group in groups:
                    try:
                        committed = admin.list_group_offsets(group).get(group, {})
                        out[group] = (_behind(consumer, committed), "")
                    except Exception as exc:
                        out[group] = (None, f"{type(exc).__name__}: {exc}"[:200])
            finally:
                consumer.close()
        finally:
            with contextlib.suppress(Exception):
                admin.close()
        return out

    def newest(self, topics: list[str]) -> dict[str, tuple[float | None, str]]:
        """``topic -> (timestamp of its newest message in epoch seconds, "")`` or ``(None, why)``."""
        from kafka import KafkaConsumer, TopicPartition

        out: dict[str, tuple[float | None, str]] = {}
        try:
            consumer = KafkaConsumer(**self._options())
        except Exception as exc:
            return {t: (None, f"{type(exc).__name__}: {exc}"[:200]) for t in topics}
        try:
            for topic in topics:
                try:
                    parts = [
                        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
                    ]
                    if not parts:
                        out[topic] = (None, "no such topic")
                        continue
                    ends = {tp: n for tp, n in consumer.end_offsets(parts).items() if n > 0}
                    newest: float | None = None
                    if ends:
                        consumer.assign(list(ends))
                        for tp, end in ends.items():
                            consumer.seek(tp, end - 1)
                        for records in consumer.poll(
                            timeout_ms=self.timeout_ms, max_records=len(ends) * 4
                        ).values():
                            for record in records:
                                stamp = record.timestamp / 1000.0
                                newest = stamp if newest is None else max(newest, stamp)
                    out[topic] = (newest, "" if newest is not None else "the topic is empty")
                except Exception as exc:
                    out[topic] = (None, f"{type(exc).__name__}: {exc}"[:200])
        finally:
            consumer.close()
        return out
