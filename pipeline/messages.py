"""Conversions between Kafka messages and forewarn's types at the edges of the dataflow.

Why here and not inline in the flow: the dataflow file stays wiring only, and these shapes (what a
dead letter or a detection looks like on its topic, and how it is keyed) are tested on their own.
"""

from __future__ import annotations

from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage

from forewarn.events import DeadLetter, Detection
from forewarn.ingest import RawMessage

_Bytes = bytes | None
SourceItem = KafkaSourceMessage[_Bytes, _Bytes] | KafkaError[_Bytes, _Bytes] | RawMessage
OutMessage = KafkaSinkMessage[bytes | None, bytes | None]

__all__ = ["OutMessage", "SourceItem", "dead_letter_message", "detection_message", "to_raw"]


def to_raw(item: SourceItem | bytes) -> RawMessage | None:
    """The raw message in a source item; None for a consumer error (it carries no message to parse).

    Test sources may hand over plain bytes or ``RawMessage``; the Kafka source hands over
    ``KafkaSourceMessage`` (or ``KafkaError``, since the source runs with ``raise_on_errors=False``
    so a transient broker error never stops the flow).
    """
    if isinstance(item, RawMessage):
        return item
    if isinstance(item, KafkaSourceMessage):
        return RawMessage(
            value=item.value, topic=item.topic, key=item.key, partition=item.partition, offset=item.offset
        )
    if isinstance(item, bytes | bytearray):
        return RawMessage(value=bytes(item))
    return None


def detection_message(detection: Detection) -> OutMessage:
    """Detections are keyed by service: one service's detections stay in order on one partition."""
    return KafkaSinkMessage(key=detection.service.encode(), value=detection.to_json_bytes())


def dead_letter_message(letter: DeadLetter) -> OutMessage:
    """Dead letters are keyed by their deterministic id: a replayed one is a duplicate by key too
    (a compacted dead-letter topic keeps one copy), and a consumer can de-duplicate by key alone."""
    return KafkaSinkMessage(key=letter.id.encode(), value=letter.to_json_bytes())
