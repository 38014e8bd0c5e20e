"""Run the API (uvicorn) and, optionally, the store sink in one process, start/stop from code.

Why a class with ``start``/``stop`` rather than only ``uvicorn.run``: ``forewarn api`` blocks on it,
but the demo and the integration tests start it next to other components, on a free port, and must
stop it cleanly (no leftover threads or sockets).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from prometheus_client import CollectorRegistry

from forewarn.api.app import create_app
from forewarn.api.control import HealingControl, LlmBudget
from forewarn.settings import Settings
from forewarn.store.db import Store, open_store
from forewarn.store.sink import StoreSink, make_consumer, topic_kinds

__all__ = ["ApiServer"]

log = logging.getLogger(__name__)


class ApiServer:
    """The REST API on ``host:port`` (port 0: a free one), plus the store sink thread if ``sink``."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        registry: CollectorRegistry | None = None,
        healing: HealingControl | None = None,
        llm_budget: LlmBudget | None = None,
        sink: bool = True,
        host: str | None = None,
        port: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings)
        self._owns_store = store is None
        self.registry = registry if registry is not None else CollectorRegistry()
        self.app = create_app(
            self.store, settings, registry=self.registry, healing=healing, llm_budget=llm_budget, clock=clock
        )
        self._host = host or settings.api.host
        self._port = settings.api.port if port is None else port
        self._with_sink = sink
        self._sink: StoreSink | None = None
        self._consumer: object | None = None
        self._threads: list[threading.Thread] = []
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.api.tls else "http"
        return f"{scheme}://{self._host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        api = self.settings.api
        if not (self.app.state.forewarn.keys.configured or api.allow_anonymous_read):
            log.warning(
                "no API keys configured: every /v1 request will get 401. Set "
                "FOREWARN_API__READ_KEYS='[\"...\"]' and FOREWARN_API__ADMIN_KEYS (or api.keys_file), "
                "or api.allow_anonymous_read for local use"
            )
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self._host, self._port))
        self.port = int(self._socket.getsockname()[1])
        # With a certificate uvicorn serves TLS only (no plain-HTTP fallback on the same port).
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=str(api.tls_cert_file) if api.tls_cert_file else None,
            ssl_keyfile=str(api.tls_key_file) if api.tls_key_file else None,
        )
        self._server = uvicorn.Server(config)
        server, sock = self._server, self._socket
        api_thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="forewarn-api", daemon=True
        )
        api_thread.start()
        self._threads.append(api_thread)
        if self._with_sink:
            kinds = topic_kinds(self.settings)
            self._consumer = make_consumer(self.settings, list(kinds))
            self._sink = StoreSink(
                self.store,
                self._consumer,  # type: ignore[arg-type]
                kinds,
                retention_seconds=self.settings.store.retention_days * 86400.0,
            )
            sink_thread = threading.Thread(target=self._sink.run, name="forewarn-store-sink", daemon=True)
            sink_thread.start()
            self._threads.append(sink_thread)
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not api_thread.is_alive():
                self.stop()
                raise RuntimeError(f"the API did not start on {self._host}:{self.port}")
            time.sleep(0.05)
        log.info("forewarn API on %s (docs: %s/docs)", self.url, self.url)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in ``forewarn api``)."""
        for thread in self._threads:
            while thread.is_alive():
                thread.join(0.5)

    def stop(self) -> None:
        if self._sink is not None:
            self._sink.stop()
        if self._server is not None:
            self._server.should_exit = True
        for thread in self._threads:
            thread.join(10.0)
        self._threads.clear()
        if self._consumer is not None:
            self._consumer.close()  # type: ignore[attr-defined]
            self._consumer = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._owns_store:
            self.store.close()
