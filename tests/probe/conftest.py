"""Fixtures for the probe runner and log shipper: a real HTTP health server and a TCP proxy.

Both bind 127.0.0.1 on free ports (other engineers' tests run at the same time) and are stopped by
the fixture, so no process or thread outlives its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse


@dataclass
class HealthServerState:
    """What the test server does; tests flip these between requests."""

    slow_first: int = 0  # the first N requests to /flaky hang past any sane timeout
    hang_seconds: float = 5.0
    hits: dict[str, int] = field(default_factory=dict)


def health_app(state: HealthServerState) -> FastAPI:
    app = FastAPI()

    def hit(name: str) -> int:
        state.hits[name] = state.hits.get(name, 0) + 1
        return state.hits[name]

    @app.get("/health/ok")
    async def ok() -> JSONResponse:
        hit("ok")
        body = {
            "service": "database",
            "status": "ok",
            "latency_ms": 3.5,
            "checks": [{"name": "pool", "status": "ok", "latency_ms": 1.0}],
            "details": {"db_pool_in_use": 3, "db_pool_size": 20, "memory": {"rss_bytes": 1234}},
        }
        return JSONResponse(body)

    @app.get("/health/degraded")
    async def degraded() -> JSONResponse:
        hit("degraded")
        return JSONResponse({"status": "degraded", "details": {"db_pool_in_use": 17}})

    @app.get("/health/down")
    async def down() -> JSONResponse:
        hit("down")
        return JSONResponse({"status": "down", "details": {"db_pool_in_use": 20}}, status_code=503)

    @app.get("/health/html")
    async def html() -> PlainTextResponse:
        hit("html")
        return PlainTextResponse("<html>maintenance</html>", media_type="text/html")

    @app.get("/health/array")
    async def array() -> JSONResponse:
        hit("array")
        return JSONResponse([1, 2, 3])

    @app.get("/health/slow")
    async def slow() -> JSONResponse:
        hit("slow")
        await asyncio.sleep(state.hang_seconds)
        return JSONResponse({"status": "ok"})

    @app.get("/health/flaky")
    async def flaky() -> JSONResponse:
        if hit("flaky") <= state.slow_first:
            await asyncio.sleep(state.hang_seconds)
        return JSONResponse({"status": "ok", "details": {"recovered": True}})

    return app


@dataclass
class HealthServer:
    base_url: str
    state: HealthServerState


def _serve(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test health server did not start")
        time.sleep(0.01)
    return server, thread, port


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    state = HealthServerState()
    server, thread, port = _serve(health_app(state))
    try:
        yield HealthServer(base_url=f"http://127.0.0.1:{port}", state=state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound by us but not listening: connecting to it is refused, and nobody else can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


class TcpProxy:
    """Forwards a reserved local port to an upstream address once ``start()`` is called.

    Before ``start()`` the port is bound but not listening, so clients are refused exactly as if the
    service were down; after it, bytes flow both ways. Used to take Kafka "down" and bring it "back"
    at the same address without touching the shared test broker.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self._spawn(self._accept_loop)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        pair = {a: b, b: a}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    pair[source].sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def tcp_proxy_factory() -> Iterator[type[TcpProxy]]:
    proxies: list[TcpProxy] = []

    class Tracked(TcpProxy):
        def __init__(self, upstream: tuple[str, int]) -> None:
            super().__init__(upstream)
            proxies.append(self)

    yield Tracked
    for proxy in proxies:
        proxy.close()
