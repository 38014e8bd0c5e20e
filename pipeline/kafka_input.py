"""Bytewax's Kafka source partition, handing over ``RawMessage`` instead of ``KafkaSourceMessage``.

Why: the dataflow reads only a message's bytes, topic, key, partition and offset, yet Bytewax's
partition builds a ``KafkaSourceMessage`` per message (headers, latency and timestamp fetched from
librdkafka, a dataclass ``__init__``), which the flow then copied into a ``RawMessage``: together
about a fifth of the dataflow's time in a py-spy profile of ``forewarn run``. This partition builds
the ``RawMessage`` directly. Everything else (offsets, end of partition, errors as ``KafkaError``
items since the source runs with ``raise_on_errors=False``) is Bytewax 0.21.1's ``next_batch``,
which is pinned (its last release).
"""

from __future__ import annotations

from typing import Any

from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.connectors.kafka import _KafkaSourcePartition as _BytewaxPartition
from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import Message

from forewarn.ingest import RawMessage

__all__ = ["RawKafkaPartition", "Shard", "ShardedKafkaSource", "in_shard"]

_Bytes = bytes | None
Shard = tuple[int, int]  # (index, count): this process reads partitions p with p % count == index


def in_shard(part: str, shard: Shard) -> bool:
    """Whether Bytewax's input part ``"<partition>-<topic>"`` belongs to ``shard``."""
    index, count = shard
    return int(part.split("-", 1)[0]) % count == index


class ShardedKafkaSource(KafkaSource):
    """``KafkaSource`` that reads only its shard's partitions of each topic (all of them without one).

    Why: independent processes, each over its own partitions, scale without the cluster's exchange of
    items between members (see ``pipeline.scale_out`` in ``settings.py``). Partition ``p`` of every
    topic goes to the same shard, so a service's probes, logs and metrics meet in one process.
    """

    def __init__(self, *args: Any, shard: Shard | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shard = shard

    def list_parts(self) -> list[str]:
        parts = super().list_parts()
        return parts if self.shard is None else [p for p in parts if in_shard(p, self.shard)]


class RawKafkaPartition(_BytewaxPartition):
    """One input partition; ``next_batch`` returns ``RawMessage`` items (``KafkaError`` on errors)."""

    def next_batch(self) -> list[RawMessage | KafkaError[_Bytes, _Bytes]]:  # type: ignore[override]
        if self._eof:
            raise StopIteration
        batch: list[RawMessage | KafkaError[_Bytes, _Bytes]] = []
        last_offset = None
        for msg in self._consumer.consume(self._batch_size, 0.001):
            error = msg.error()
            if error is None:
                batch.append(RawMessage(msg.value(), msg.topic(), msg.key(), msg.partition(), msg.offset()))
            elif error.code() == ConfluentKafkaError._PARTITION_EOF:
                self._eof = True  # StopIteration at the next poll, so this batch is still emitted
                break
            elif self._raise_on_errors:
                raise RuntimeError(f"error consuming from Kafka topic `{self._topic!r}`: {error}")
            else:
                batch.append(KafkaError(error, _source_message(msg)))
            last_offset = msg.offset()
        if last_offset is not None:  # resume from the next message, not this one
            self._offset = last_offset + 1
        return batch


def _source_message(msg: Message) -> KafkaSourceMessage[_Bytes, _Bytes]:
    """Bytewax's shape of a message, for the (rare) error item (only logged; headers left out)."""
    return KafkaSourceMessage(
        key=msg.key(),
        value=msg.value(),
        topic=msg.topic(),
        latency=msg.latency(),
        offset=msg.offset(),
        partition=msg.partition(),
        timestamp=msg.timestamp(),
    )
