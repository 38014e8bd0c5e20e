"""Publish telemetry to Kafka without losing it silently while Kafka is away.

Why a buffer of our own: a probe runner or log shipper exists to report trouble, and Kafka being
down is exactly when trouble is likely. kafka-python blocks (``max_block_ms``) or fails futures when
the broker is gone, so ``KafkaPublisher`` keeps unsent messages in a bounded FIFO, drops the *oldest*
when full (fresh telemetry is worth more than stale), logs a warning with the counts, and drains in
order when the broker answers again. Delivery is at-least-once: a message whose delivery failed is
re-queued ahead of newer ones, so order per key holds unless Kafka accepted part of a batch.

A message Kafka itself refuses (not retriable, e.g. larger than the broker accepts) is tried
``MAX_REFUSALS`` times, then dropped with an error log and counted as ``rejected``, so one poison
message never stalls the telemetry behind it.

Nothing here blocks for long while Kafka is down: after a failure, connection attempts are spaced by
``reconnect_interval`` seconds and ``publish`` in between only appends to the buffer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from forewarn.kafka.client_config import kafka_python_config, kafka_settings
from forewarn.kafka.refusal import security_refusal
from forewarn.settings import KafkaSettings

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Where producers hand their events; Kafka in production, a list in unit tests."""

    def publish(self, topic: str, key: str, value: bytes) -> None: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


class DeliveryFuture(Protocol):
    """The part of kafka-python's ``FutureRecordMetadata`` we use."""

    is_done: bool
    exception: Any

    def succeeded(self) -> bool: ...


class Producer(Protocol):
    """The part of kafka-python's ``KafkaProducer`` we use (injectable for tests)."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> DeliveryFuture: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Counts an operator needs to judge whether telemetry is flowing."""

    buffered: int  # waiting in our buffer, not yet handed to Kafka
    in_flight: int  # handed to the producer, not yet acknowledged
    delivered: int
    dropped: int  # oldest messages dropped because the buffer was full
    connected: bool
    rejected: int = 0  # messages Kafka refused MAX_REFUSALS times (e.g. too large), dropped


@dataclass(slots=True)
class _Message:
    topic: str
    key: bytes
    value: bytes
    refusals: int = 0  # non-retriable errors so far (e.g. too large): a poison message is dropped


MAX_REFUSALS = 3


def _retriable(error: Any) -> bool:
    """Broker unreachable or busy (retry as long as it takes), as opposed to Kafka refusing."""
    return bool(getattr(error, "retriable", False)) or isinstance(error, OSError | TimeoutError)


def kafka_producer_factory(
    kafka: KafkaSettings | str,
    client_id: str = "forewarn",
    *,
    timeout_seconds: float = 5.0,
) -> Callable[[], Producer]:
    """Build kafka-python producers with short timeouts, so a dead broker is noticed in seconds.

    ``kafka``: the settings (TLS and SASL included) or a plaintext ``host:port[,...]``. Only options
    this kafka-python version knows are passed (2.x rejects unknown ones, 3.x added
    ``bootstrap_timeout_ms``).
    """
    settings = kafka_settings(kafka)
    connection = kafka_python_config(settings)  # a missing certificate file fails here, at once

    def make() -> Producer:
        from kafka import KafkaProducer

        millis = int(timeout_seconds * 1000)
        wanted: dict[str, Any] = {
            **connection,
            "client_id": client_id,
            "acks": "all",
            # Wait up to 20 ms to fill batches of up to 256 KiB: kafka-python's sender thread is Python
            # too, and fewer, larger requests leave more of the GIL to the sending thread (bare send
            # 11.1k -> 16.7k msg/s here). Probes flush each round, so they are not held back by it.
            "linger_ms": 20,
            "batch_size": 256 * 1024,
            "max_block_ms": millis,
            "request_timeout_ms": millis,
            "delivery_timeout_ms": 2 * millis + 100,  # must exceed linger + request timeout
            "bootstrap_timeout_ms": millis,
            "api_version_auto_timeout_ms": millis,
            "reconnect_backoff_max_ms": 2000,
        }
        known = KafkaProducer.DEFAULT_CONFIG
        try:
            producer: Producer = KafkaProducer(**{k: v for k, v in wanted.items() if k in known})
        except Exception as error:
            # Say "refused: invalid credentials" rather than "Unable to bootstrap" in the warnings.
            refusal = security_refusal(settings, timeout=min(2.0, timeout_seconds))
            if refusal is not None:
                raise refusal from error
            raise
        return producer

    return make


def quiet_kafka_client(log_level: str) -> None:
    """Keep kafka-python's per-connection errors out of a CLI's output unless debugging.

    While the broker is down kafka-python logs every refused connection; ``KafkaPublisher`` already
    says it once with the counts that matter, so the client's own lines only help with DEBUG.
    """
    if log_level.upper() != "DEBUG":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


class KafkaPublisher:
    """A ``Publisher`` on kafka-python with a bounded, ordered, self-draining buffer.

    ``producer_factory`` builds the producer (raising while the broker is unreachable); it is
    retried every ``reconnect_interval`` seconds of the injected ``monotonic`` clock.
    """

    def __init__(
        self,
        producer_factory: Callable[[], Producer],
        *,
        buffer_size: int = 10_000,
        reconnect_interval: float = 5.0,
        warn_interval: float = 30.0,
        flush_timeout: float = 10.0,
        stall_timeout: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        name: str = "kafka",
    ) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self.producer_factory = producer_factory
        self.buffer_size = buffer_size
        self.reconnect_interval = reconnect_interval
        self.warn_interval = warn_interval
        self.flush_timeout = flush_timeout
        self.stall_timeout = stall_timeout
        self.monotonic = monotonic
        self.name = name
        self._lock = threading.RLock()
        self._pending: deque[_Message] = deque()
        self._in_flight: deque[tuple[_Message, DeliveryFuture, float]] = deque()  # + when sent
        self._producer: Producer | None = None
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._last_warning: float | None = None
        self._delivered = 0
        self._dropped = 0
        self._dropped_reported = 0
        self._rejected = 0
        self._closed = False

    # -- public surface -------------------------------------------------------------------------

    def publish(self, topic: str, key: str, value: bytes) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("publisher is closed")
            self._pending.append(_Message(topic, key.encode(), value))
            self._enforce_bound()
            self._pump()

    def flush(self, timeout: float | None = None) -> None:
        """Hand everything to Kafka and wait up to ``timeout`` s for acknowledgements."""
        with self._lock:
            self._pump()
            producer = self._producer
            if producer is not None and self._in_flight:
                try:
                    producer.flush(timeout=self.flush_timeout if timeout is None else timeout)
                except Exception as exc:  # kafka-python raises KafkaTimeoutError when not all acked
                    log.debug("flush did not complete: %s", exc)
            self._reap()
            if self._pending or self._in_flight:
                self._warn()

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            self.flush(timeout)
            self._closed = True
            lost = len(self._pending) + len(self._in_flight)
            if lost:
                log.warning(
                    "%s publisher closing with %d undelivered messages (they are lost); %d dropped earlier",
                    self.name,
                    lost,
                    self._dropped,
                )
            if self._producer is not None:
                try:
                    self._producer.close(timeout=1.0 if lost else timeout)
                except Exception as exc:
                    log.debug("producer close failed: %s", exc)
                self._producer = None

    def stats(self) -> PublisherStats:
        """Current counts; never waits for a publish in progress (that may be a slow reconnect)."""
        if self._lock.acquire(blocking=False):
            try:
                self._reap()
            finally:
                self._lock.release()
        return PublisherStats(
            buffered=len(self._pending),
            in_flight=len(self._in_flight),
            delivered=self._delivered,
            dropped=self._dropped,
            connected=self._producer is not None and self._down_since is None,
            rejected=self._rejected,
        )

    # -- internals -------------------------------------------------------------------------------

    def _enforce_bound(self) -> None:
        overflow = len(self._pending) - self.buffer_size
        if overflow <= 0:
            return
        for _ in range(overflow):
            self._pending.popleft()
        self._dropped += overflow
        if self._dropped_reported == 0:
            self._warn(force=True)  # the first loss is always said out loud

    def _pump(self) -> None:
        """Move pending messages to the producer, oldest first, unless Kafka is known to be down."""
        self._reap()
        if not self._pending:
            return
        now = self.monotonic()
        if self._down_since is not None and now < self._retry_at:
            self._warn()
            return
        producer = self._connect(now)
        if producer is None:
            return
        while self._pending and len(self._in_flight) < self.buffer_size:
            message = self._pending[0]
            try:
                future = producer.send(message.topic, value=message.value, key=message.key)
            except Exception as exc:  # KafkaTimeoutError on metadata, BufferError, closed producer
                if not _retriable(exc):
                    # Not an outage: a producer closed by a fatal error, or a message it will never
                    # take. Build a new producer at the next attempt; a message refused by fresh
                    # producers MAX_REFUSALS times is the problem itself and is dropped.
                    if self._refused(message, exc):
                        self._pending.popleft()  # before the discard below re-queues in-flight ones
                    self._discard_producer()
                self._mark_down(exc, now)
                return
            self._pending.popleft()
            self._in_flight.append((message, future, now))

    def _connect(self, now: float) -> Producer | None:
        if self._producer is not None:
            return self._producer
        try:
            self._producer = self.producer_factory()
        except Exception as exc:  # kafka-python: NoBrokersAvailable (2.x) / KafkaTimeoutError (3.x)
            self._mark_down(exc, now)
            return None
        return self._producer

    def _refused(self, message: _Message, error: Any) -> bool:
        """Count a refusal of ``message``; True when it reached MAX_REFUSALS and is given up."""
        message.refusals += 1
        if message.refusals < MAX_REFUSALS:
            return False
        self._rejected += 1
        log.error(
            "%s refused a message %d times (%s): dropping it (topic %s, key %r, %d bytes); %d rejected",
            self.name,
            message.refusals,
            _describe(error),
            message.topic,
            message.key[:64],
            len(message.value),
            self._rejected,
        )
        return True

    def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception as exc:
                log.debug("closing a broken producer failed: %s", exc)
        # Its unacknowledged sends can no longer be confirmed: queue them again (at-least-once).
        self._pending.extendleft(reversed([message for message, _, _ in self._in_flight]))
        self._in_flight.clear()
        self._enforce_bound()

    def _reap(self) -> None:
        """Account for finished deliveries; failed ones go back to the front of the buffer in order."""
        if self._stalled():
            return
        failed: list[_Message] = []
        error: Any = None
        delivered_now = 0
        # Only the finished head of the queue: Kafka completes a partition's sends in order, and
        # stopping at the first unfinished one keeps every publish O(1) however deep the queue is.
        while self._in_flight and self._in_flight[0][1].is_done:
            message, future, _ = self._in_flight.popleft()
            if future.succeeded():
                delivered_now += 1
            elif _retriable(future.exception):
                failed.append(message)
                error = future.exception
            elif not self._refused(message, future.exception):
                failed.append(message)  # refused, but not often enough to give up on it yet
        if not (failed or delivered_now):
            return
        self._delivered += delivered_now
        if failed:
            self._pending.extendleft(reversed(failed))
            self._enforce_bound()
            if error is not None:
                self._mark_down(error, self.monotonic())
        elif delivered_now and self._down_since is not None:
            log.warning(
                "%s is back after %.0fs: delivering the buffer (%d delivered so far, %d still buffered, "
                "%d dropped oldest while it was down)",
                self.name,
                self.monotonic() - self._down_since,
                self._delivered,
                len(self._pending) + len(self._in_flight),
                self._dropped,
            )
            self._down_since = None
            self._last_warning = None

    def _stalled(self) -> bool:
        """Replace a producer whose oldest send has had no answer for ``stall_timeout`` seconds.

        Why: kafka-python's own delivery timeout (10 s from ``kafka_producer_factory``) should fail
        every send by then, but after a broker outage the log shipper's producer kept 1,432 sends
        unanswered for minutes after the broker was back, and nothing drained (issue #15). Its sends
        are queued again (at-least-once: consumers de-duplicate by id) for a fresh producer.
        """
        if not self._in_flight or self._in_flight[0][1].is_done:
            return False
        now = self.monotonic()
        waited = now - self._in_flight[0][2]
        if waited <= self.stall_timeout:
            return False
        log.warning(
            "%s: no answer to the oldest of %d sends for %.0fs; replacing the producer, sending them again",
            self.name,
            len(self._in_flight),
            waited,
        )
        self._discard_producer()
        self._mark_down(TimeoutError("producer stalled"), now)
        return True

    def _mark_down(self, error: Any, now: float) -> None:
        # Spaced from the end of the failed attempt: a connect that took its whole timeout must not
        # make the next publish try again at once.
        self._retry_at = max(now, self.monotonic()) + self.reconnect_interval
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "%s unavailable (%s): buffering messages; %d buffered, %d dropped oldest so far "
                "(buffer holds %d); retrying every %.0fs",
                self.name,
                _describe(error),
                len(self._pending) + len(self._in_flight),
                self._dropped,
                self.buffer_size,
                self.reconnect_interval,
            )
            self._last_warning = now
            self._dropped_reported = self._dropped
        else:
            self._warn()

    def _warn(self, force: bool = False) -> None:
        now = self.monotonic()
        due = self._last_warning is None or now - self._last_warning >= self.warn_interval
        if not (force or due):
            return
        if self._down_since is None and not self._dropped and not force:
            return
        self._last_warning = now
        self._dropped_reported = self._dropped
        log.warning(
            "%s %s: %d buffered, %d in flight, %d dropped oldest (buffer holds %d)",
            self.name,
            "still unavailable" if self._down_since is not None else "not draining",
            len(self._pending),
            len(self._in_flight),
            self._dropped,
            self.buffer_size,
        )


class PrintPublisher:
    """Writes each message's value as one line to a text stream (``--no-kafka``: see, don't send)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.published = 0

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.stream.write(value.decode("utf-8", errors="replace") + "\n")
        self.published += 1

    def flush(self, timeout: float | None = None) -> None:
        self.stream.flush()

    def close(self, timeout: float | None = None) -> None:
        self.stream.flush()


def _describe(error: Any) -> str:
    if error is None:
        return "unknown error"
    text = str(error) or type(error).__name__
    return text if type(error).__name__ in text else f"{type(error).__name__}: {text}"


__all__ = [
    "KafkaPublisher",
    "PrintPublisher",
    "Producer",
    "Publisher",
    "PublisherStats",
    "kafka_producer_factory",
    "quiet_kafka_client",
]
