"""Fixtures for the demo app tests: a hand-driven clock, an app factory with quiet, fast config, and
request signing for the admin API."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forewarn.admin_signing import SigningKey, parse_signing_key, sign
from forewarn.musobuddy.app import MusoBuddy, create_app
from forewarn.musobuddy.config import DEMO_ADMIN_KEY_ID, DEMO_ADMIN_PRIVATE_KEY, MusoBuddyConfig


class ManualClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fast_config(**overrides: Any) -> MusoBuddyConfig:
    """Deterministic (no noise, fixed seed) and no real sleeping, so unit tests are exact and quick."""
    values: dict[str, Any] = {
        "simulate_latency": False,
        "noise": False,
        "seed": 7,
        "auth": {"pbkdf2_iterations": 1000},
    }
    values.update(overrides)
    return MusoBuddyConfig(**values)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def wall_clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


AppFactory = Callable[..., tuple[TestClient, FastAPI]]


@pytest.fixture
def make_app(clock: ManualClock, wall_clock: ManualClock) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> tuple[TestClient, FastAPI]:
        app = create_app(fast_config(**overrides), clock, wall_clock=wall_clock)
        client = TestClient(app)
        clients.append(client)
        return client, app

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(make_app: AppFactory) -> TestClient:
    return make_app()[0]


def muso(app: FastAPI) -> MusoBuddy:
    state = app.state.musobuddy
    assert isinstance(state, MusoBuddy)
    return state


class Response(Protocol):
    """What the tests read from a TestClient response (httpx or httpx2, whichever Starlette uses)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


class AdminAuth:
    """Signs TestClient requests like forewarn.admin_signing.AdminAuth signs httpx ones."""

    def __init__(self, key_id: str, key: SigningKey, clock: Callable[[], float]) -> None:
        self.key_id, self.key, self.clock = key_id, key, clock

    def headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        return sign(method, target, body, self.key_id, self.key, self.clock())

    def post(
        self, client: TestClient, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> Response:
        signed = {"content-type": "application/json", **(headers or {}), **self.headers("POST", path, body)}
        return client.post(path, content=body, headers=signed)

    def get(self, client: TestClient, path: str, params: dict[str, Any] | None = None) -> Response:
        target = path + ("?" + urlencode(params) if params else "")
        return client.get(target, headers=self.headers("GET", target, b""))


@pytest.fixture
def auth(wall_clock: ManualClock) -> AdminAuth:
    return AdminAuth(DEMO_ADMIN_KEY_ID, parse_signing_key(DEMO_ADMIN_PRIVATE_KEY), clock=wall_clock)
