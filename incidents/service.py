"""Run the ``Responder`` against Kafka: the ``forewarn respond`` process.

Why apart from ``responder.py``: the class is plain and tested without a broker; this module only
wires it to Kafka, the state store, metrics and shutdown. The consumer and the loop (handle, flush,
then commit: at-least-once; ticks) are ``forewarn.kafka.consume``'s, shared with the store sink; the
healing executor's idempotency keys and the grouper's seen-ids make a re-delivered message harmless.

Crash safety: before each commit the grouper's open incidents are saved (``checkpoint.py``), and at
start-up they are restored and the executor finishes the steps a crash cut (``HealingExecutor.recover``)
before any message is read, so a ``kill -9`` and a restart neither heal nor notify twice.

This process is the one owner of the healing executor (``forewarn heal run`` is an alias of it): the
API and ``forewarn heal approve/reject`` queue requests in the state store, and each tick applies them.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from forewarn.incidents.responder import Responder
from forewarn.kafka.consume import consume_until, make_consumer
from forewarn.kafka.io import ensure_topics, make_producer
from forewarn.settings import Settings

log = logging.getLogger(__name__)


def build_responder(
    settings: Settings,
    publish: Callable[[str, str, bytes], None],
    registry: CollectorRegistry | None = None,
    requests: Any = None,
) -> tuple[Responder, Any]:
    """The responder with the healing executor and the reporter configured from settings.

    With a ``registry`` the reporter's LLM families and the responder's healing/engine families
    (``forewarn.incidents.responder_metrics``) are registered on it, for ``/metrics``. With
    ``requests`` (the state store's ``ControlRequests``) each tick applies the operator requests.
    """
    from forewarn.healing.control import ControlApplier
    from forewarn.healing.executor import HealingExecutor
    from forewarn.incidents.grouping import IncidentGrouper
    from forewarn.incidents.redact import Redactor
    from forewarn.incidents.reporter import IncidentReporter
    from forewarn.incidents.responder_metrics import ResponderMetrics
    from forewarn.incidents.tracker import IncidentTracker

    # Command output is redacted before it reaches the audit trail (healing cannot import incidents/).
    executor = HealingExecutor.from_settings(settings, redact=Redactor().redact)
    reporter = IncidentReporter.from_settings(settings.llm, registry=registry)
    grouper = IncidentGrouper(
        window_seconds=settings.responder.incident_window_seconds,
        resolve_after_seconds=settings.responder.resolve_after_seconds,
        dependencies=settings.dependencies,
    )
    responder = Responder(
        settings.topics,
        executor=executor,
        tracker=IncidentTracker(grouper=grouper, reporter=reporter),
        publish=publish,
        metrics=ResponderMetrics(registry) if registry is not None else None,
        requests=ControlApplier(executor, requests, executor.clock.now) if requests is not None else None,
    )
    return responder, executor


def serve(settings: Settings, stop: threading.Event | None = None, *, from_beginning: bool = False) -> None:
    """Consume until ``stop`` is set (or SIGINT/SIGTERM in the main thread)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    bootstrap = settings.kafka.bootstrap_servers
    topics = settings.topics
    reads = [topics.detections, topics.log_templates]
    ensure_topics(settings.kafka, [*reads, topics.forecasts, topics.incidents, topics.actions])
    producer = make_producer(settings)

    def publish(topic: str, key: str, value: bytes) -> None:
        producer.send(topic, key=key, value=value)

    port = settings.responder.metrics_port
    registry = CollectorRegistry() if port is not None else None
    from forewarn.store.db import open_store

    store = open_store(settings)  # operator requests (approve, deny, trigger) are queued there
    responder, executor = build_responder(settings, publish, registry, requests=store.control)
    from forewarn.healing.paths import HealingPaths
    from forewarn.incidents.checkpoint import GrouperCheckpoint

    grouper = responder.tracker.grouper
    from forewarn.field_crypto import cipher_from_settings

    checkpoint = GrouperCheckpoint(
        HealingPaths.from_settings(settings.healing).state_dir / "responder.sqlite3",
        cipher=cipher_from_settings(settings.security),  # incident reasons and log templates: sealed
    )
    restored = checkpoint.restore(grouper)
    recovered = responder.publish_decisions(executor.recover())
    producer.flush(timeout=10)
    log.info(
        "responder state: %d open incidents restored, %d in-flight steps recovered", restored, len(recovered)
    )
    for action in recovered:
        log.info("recovered %s %s on %s: %s", action.status, action.action, action.service, action.detail)
    consumer = make_consumer(
        settings,
        reads,
        group_id=settings.responder.consumer_group,  # committed offsets only: one responder per group
        client="responder",
        from_beginning=from_beginning,
        assign=True,
        fetch_max_wait_ms=200,
    )
    log.info("responder reading %s from %s", ", ".join(reads), bootstrap)
    metrics_server = None
    if registry is not None and port is not None:
        address = settings.metrics.bind_address
        metrics_server, _thread = start_http_server(port, addr=address, registry=registry)
        log.info("responder metrics on http://%s:%d/metrics", address, metrics_server.server_port)

    def handle(topic: str, value: bytes | None) -> None:
        for action in responder.on_message(topic, value or b""):
            log.info("%s %s on %s: %s", action.status, action.action, action.service, action.detail)

    try:
        consume_until(
            stop,
            consumer,
            handle,
            flush=lambda: (producer.flush(timeout=10), checkpoint.save(grouper)),
            tick=responder.tick,
            tick_seconds=settings.responder.tick_seconds,
            poll_ms=250,
        )
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        consumer.close()
        producer.flush(timeout=10)
        producer.close(timeout=10)
        close = getattr(executor, "close", None)
        if callable(close):
            close()
        checkpoint.close()
        store.close()
