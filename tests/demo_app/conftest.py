"""Fixtures for the demo app tests: a hand-driven clock and an app factory with quiet, fast config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forewarn.musobuddy.app import MusoBuddy, create_app
from forewarn.musobuddy.config import MusoBuddyConfig


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
