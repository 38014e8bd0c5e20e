"""Fixtures of the API/store area: a fresh SQLite store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from forewarn.store.db import Store, make_engine


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite store (WAL) in a temp dir."""
    instance = Store(make_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    yield instance
    instance.close()


READ_KEY = "read-key-for-tests"
ADMIN_KEY = "admin-key-for-tests"
