"""Fixtures for the healing tests: one hand-driven clock shared by the demo service, the request
signer and the executor, so simulated minutes pass in milliseconds; real HTTP and SMTP receivers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from forewarn.admin_signing import AdminAuth, parse_signing_key
from forewarn.healing.clock import ManualClock
from forewarn.healing.config import HealingConfig, load_config
from forewarn.healing.executor import HealingExecutor
from forewarn.healing.paths import HealingPaths
from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY, MusoBuddyConfig
from forewarn.musobuddy.server import RunningApp, serve_in_thread


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


def demo_config(**overrides: Any) -> MusoBuddyConfig:
    values: dict[str, Any] = {
        "simulate_latency": False,
        "noise": False,
        "seed": 7,
        "auth": {"pbkdf2_iterations": 1000},
        "log_stdout": False,
    }
    values.update(overrides)
    return MusoBuddyConfig(**values)


@pytest.fixture
def demo(clock: ManualClock) -> Iterator[RunningApp]:
    """The real demo service over HTTP on a free port, on the test's clock."""
    with serve_in_thread(demo_config(), clock=clock.now, wall_clock=clock.now) as running:
        yield running


@pytest.fixture
def admin(demo: RunningApp, clock: ManualClock) -> Iterator[httpx.Client]:
    """A signed admin client for the demo service."""
    with httpx.Client(
        base_url=demo.base_url,
        auth=AdminAuth(DEMO_ADMIN_KEY_ID, parse_signing_key(DEMO_ADMIN_PRIVATE_KEY), clock=clock.now),
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


ExecutorFactory = Callable[..., HealingExecutor]


@pytest.fixture
def make_executor(
    tmp_path: Path, demo: RunningApp, admin: httpx.Client, http: httpx.Client, clock: ManualClock
) -> Iterator[ExecutorFactory]:
    made: list[HealingExecutor] = []

    def factory(config: HealingConfig | None = None, state: Path | None = None, **kw: Any) -> HealingExecutor:
        kw.setdefault("admin_client_for", lambda service: admin)
        kw.setdefault("http", http)
        kw.setdefault("default_base_url", demo.base_url)
        executor = HealingExecutor(
            config or load_config(), HealingPaths.under(state or tmp_path / "healing"), clock=clock, **kw
        )
        made.append(executor)
        return executor

    yield factory
    for executor in made:
        executor.close()


def inject(client: httpx.Client, base_url: str, fault: str, **params: Any) -> None:
    response = client.post(f"{base_url}/api/faults/{fault}", json=params)
    assert response.status_code in (200, 201), response.text


def health(client: httpx.Client, base_url: str, name: str) -> dict[str, Any]:
    body = client.get(f"{base_url}/api/health/{name}").json()
    assert isinstance(body, dict)
    return body


def state(client: httpx.Client, base_url: str) -> dict[str, Any]:
    body = client.get(f"{base_url}/api/state").json()
    assert isinstance(body, dict)
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpReceiver:
    """A real HTTP server that records every JSON POST (stands in for Slack / PagerDuty)."""

    def __init__(self, status: int = 200, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append({"path": self.path, "json": json.loads(body or b"null")})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.close()


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) that keeps every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(message_from_bytes(envelope.original_content or envelope.content))
                return "250 OK"

        last: Exception | None = None
        for _ in range(5):
            self.port = free_port()
            self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
            try:
                self.controller.start()
                return
            except Exception as exc:  # port taken between probe and bind: try another
                last = exc
        raise RuntimeError(f"could not start the SMTP receiver: {last}")

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver()
    yield server
    server.close()
