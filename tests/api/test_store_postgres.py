"""The store's behaviour on a REAL PostgreSQL: the same cases as on SQLite, plus the API on top."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from forewarn.store.db import Store, make_engine
from tests.api import test_slo, test_store
from tests.api.postgres import PostgresServer, PostgresUnavailable, ensure_installed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Every store-level case that takes a ``store`` fixture, from the SQLite suite.
CASES: dict[str, Callable[..., Any]] = {
    f"{module.__name__.rsplit('.', 1)[-1]}.{name}": func
    for module in (test_store, test_slo)
    for name, func in vars(module).items()
    if name.startswith("test_")
    and callable(func)
    and list(inspect.signature(func).parameters) == ["store"]
    and name != "test_wal_mode_on_file_databases"
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        bin_dir = ensure_installed()
    except PostgresUnavailable as error:
        pytest.fail(f"a real PostgreSQL is required: {error}")
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_store(postgres: PostgresServer) -> Iterator[Store]:
    """A fresh database per test, so cases never see each other's rows."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres.url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    store = Store(make_engine(postgres.url.rsplit("/", 1)[0] + f"/{name}"))
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name}"))
        admin.dispose()


def test_the_cases_were_found() -> None:
    assert len(CASES) >= 6, sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_store_case_on_postgres(case: str, pg_store: Store) -> None:
    assert pg_store.dialect == "postgresql"
    CASES[case](pg_store)
