"""Whether the dataflow's Kafka consumers reach a broker, as librdkafka reports it.

Why: the heartbeat says the dataflow polls its input, not that the input is there. While the broker
was down for 30 s, ``forewarn_pipeline_source_errors_total`` stayed 0 and the heartbeat stayed
fresh (librdkafka retries on its own and hands the consumer no error), so Prometheus could not see
the outage. Two librdkafka callbacks can: ``error_cb`` (connection refused, all brokers down) and
``stats_cb`` (every second: each broker connection's state). From them this module keeps
``forewarn_pipeline_source_up`` (1 while every consumer has a broker connection up) and
``forewarn_pipeline_source_last_contact_timestamp_seconds``, and counts the errors.

Why a subclass of Bytewax's Kafka source: Bytewax sets ``stats_cb`` on each partition's consumer
itself (for its lag gauge), overriding one given in ``add_config``; its partition class is the one
place to hook in. Bytewax is pinned at 0.21.1, its last release, so that private class stays put.
The callbacks run on the worker thread, inside the consumer's poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

from forewarn.pipeline.kafka_input import RawKafkaPartition, ShardedKafkaSource
from forewarn.pipeline.metrics import PipelineMetrics

log = logging.getLogger(__name__)

__all__ = ["SourceHealth", "WatchedKafkaSource", "librdkafka_logger"]


def librdkafka_logger() -> logging.Logger:
    """Where librdkafka's own lines go (``logger`` in a client config) instead of raw stderr, so
    the process's logging, and its repeat filter, handle them."""
    return logging.getLogger("forewarn.pipeline.librdkafka")


class SourceHealth:
    """Broker contact of every consumer of this process, fed by their librdkafka callbacks."""

    def __init__(self, metrics: PipelineMetrics, clock: Callable[[], float] = time.time) -> None:
        self._metrics = metrics
        self._clock = clock
        self._up: dict[str, bool] = {}
        self._down_since: float | None = None
        self._seen_up = False  # no "lost contact" line for consumers still connecting at start
        self._lock = threading.Lock()

    def on_error(self, client: str, error: KafkaError) -> None:
        """``error_cb``: count it; a transport error means this consumer lost its broker.

        Not logged here: librdkafka logs each error itself (through ``librdkafka_logger``), and
        :meth:`_report` says once when contact is lost and when it is back.
        """
        self._metrics.source_errors.inc()
        if error.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
            self._report(client, up=False, why=error.str())

    def on_stats(self, client: str, stats_json: str) -> None:
        """``stats_cb``: up when any of the consumer's broker connections is in state UP."""
        brokers: dict[str, Any] = json.loads(stats_json).get("brokers") or {}
        up = any(broker.get("state") == "UP" for broker in brokers.values())
        if up:
            self._metrics.source_contact.set(self._clock())
        self._report(client, up=up, why="no broker connection up")

    def _report(self, client: str, *, up: bool, why: str) -> None:
        with self._lock:
            self._up[client] = up
            all_up = all(self._up.values())
            was_down = self._down_since
            seen_up = self._seen_up
            if not all_up and was_down is None:
                self._down_since = self._clock()
            elif all_up:
                self._down_since = None
                self._seen_up = True
        self._metrics.source_up.set(1.0 if all_up else 0.0)
        if not all_up and was_down is None and seen_up:
            log.warning("lost contact with the Kafka broker (the dataflow keeps running): %s", why)
        elif all_up and was_down is not None and seen_up:
            log.warning("Kafka broker reachable again after %.1f s", self._clock() - was_down)


class _WatchedPartition(RawKafkaPartition):
    """Bytewax's partition (handing over ``RawMessage``), with its stats also reported to
    :class:`SourceHealth`."""

    def __init__(self, health: SourceHealth, client: str, *args: Any) -> None:
        self._health = health
        self._client = client
        super().__init__(*args)

    def _process_stats(self, json_stats: str) -> None:
        self._health.on_stats(self._client, json_stats)
        super()._process_stats(json_stats)


class WatchedKafkaSource(ShardedKafkaSource):
    """``KafkaSource`` whose consumers report errors and broker state to ``health``.

    ``build_part`` is Bytewax 0.21.1's, with an ``error_cb`` per partition and the watched class.
    """

    def __init__(self, health: SourceHealth, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._health = health

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _WatchedPartition:
        idx, topic = for_part.split("-", 1)
        if topic not in self._topics:
            raise ValueError(f"cannot resume from another set of Kafka topics: {topic!r} is not read")
        config: dict[str, Any] = {
            # Bytewax keeps the offsets in its recovery store: no consumer group of Kafka's.
            "group.id": "BYTEWAX_IGNORED",
            "enable.auto.commit": "false",
            "bootstrap.servers": ",".join(self._brokers),
            "enable.partition.eof": str(not self._tail),
            "statistics.interval.ms": 1000,
        }
        config.update(self._add_config)
        config["error_cb"] = lambda error: self._health.on_error(for_part, error)
        return _WatchedPartition(
            self._health,
            for_part,
            step_id,
            config,
            topic,
            int(idx),
            self._starting_offset,
            resume_state,
            self._batch_size,
            self._raise_on_errors,
        )
