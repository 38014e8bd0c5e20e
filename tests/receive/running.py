"""What the receiver tests run against: the app on a real socket, a scrape target, a list publisher."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from forewarn.dev.prometheus_server import PrometheusUnavailable, ensure_installed
from forewarn.dev.serving import serving
from forewarn.kafka.publisher import Publisher

__all__ = ["ListPublisher", "http_target", "metrics_target", "real_binaries", "serving"]


def real_binaries(alertmanager: bool = False) -> tuple[Path, Path | None]:
    """The real Prometheus (and Alertmanager) binaries, installed once per machine; else the test fails.

    Fails rather than skips: these tests are the boundary's real check (rule 2), so a machine that
    cannot install them must show red, not a quiet skip.
    """
    try:
        prometheus = ensure_installed()
        manager = (
            ensure_installed(binary="prometheus-alertmanager", package="prometheus-alertmanager")
            if alertmanager
            else None
        )
    except PrometheusUnavailable as error:
        pytest.fail(f"a real Prometheus{' and Alertmanager' if alertmanager else ''} is required: {error}")
    return prometheus, manager


class ListPublisher:
    """A publisher that keeps what it is given (unit tests; Kafka itself is tested elsewhere)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def publish(self, topic: str, key: str, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


_: type[Publisher] = ListPublisher  # it satisfies the protocol


@contextlib.contextmanager
def metrics_target(registry: CollectorRegistry) -> Iterator[str]:
    """``registry`` as a scrape target for a real Prometheus on 127.0.0.1:<free port>; yields host:port."""
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    with _stopping(server, thread):
        yield f"127.0.0.1:{server.server_port}"


@contextlib.contextmanager
def http_target(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` serving on 127.0.0.1:<free port> (a target ``prometheus_client`` cannot be); host:port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with _stopping(server, thread):
        yield f"127.0.0.1:{server.server_port}"


@contextlib.contextmanager
def _stopping(server: HTTPServer, thread: threading.Thread) -> Iterator[None]:
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
