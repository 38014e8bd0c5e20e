"""A publisher that keeps what it is given: the Kafka publisher's test double for probe and shipper tests.

Why shared: the prober and the log shipper talk to the same ``Publisher`` protocol, so their unit tests use
one fake; the real publisher is tested against a real broker in ``test_publisher_kafka.py``.
"""

from __future__ import annotations


class ListPublisher:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bytes]] = []
        self.flushes = 0

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.messages.append((topic, key, value))

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def close(self, timeout: float | None = None) -> None:
        pass
