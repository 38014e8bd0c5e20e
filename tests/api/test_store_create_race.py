"""Processes that open a fresh store together (the API and the responder under one Procfile) must
both start: the one that loses the race between "is the table there?" and CREATE TABLE retries.

Found by tests/test_run_on_your_stack.py: `forewarn api` exited with "table probes already exists".
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from forewarn.store.db import Store, make_engine
from forewarn.store.tables import metadata

pytestmark = pytest.mark.unit


def test_losing_the_create_race_is_retried_and_other_errors_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = metadata.create_all
    calls: list[int] = []

    def racing(engine: Engine) -> None:
        calls.append(1)
        if len(calls) == 1:  # another process created the table between the check and the CREATE
            real(engine)
            raise OperationalError("CREATE TABLE probes", {}, Exception("table probes already exists"))
        real(engine)

    monkeypatch.setattr(metadata, "create_all", racing)
    Store(make_engine(f"sqlite:///{tmp_path / 'a.db'}"))
    assert len(calls) == 2

    def locked(engine: Engine) -> None:
        calls.append(1)
        if len(calls) == 3:  # SQLite's deadlock rule: a reader that must write after another wrote
            raise OperationalError("CREATE TABLE probes", {}, Exception("database is locked"))
        real(engine)

    monkeypatch.setattr(metadata, "create_all", locked)
    Store(make_engine(f"sqlite:///{tmp_path / 'c.db'}"))
    assert len(calls) == 4

    def broken(engine: Engine) -> None:
        raise OperationalError("CREATE TABLE probes", {}, Exception("disk I/O error"))

    monkeypatch.setattr(metadata, "create_all", broken)
    with pytest.raises(OperationalError, match="disk I/O error"):
        Store(make_engine(f"sqlite:///{tmp_path / 'b.db'}"))


def _open(path: Path, barrier: threading.Barrier, errors: list[BaseException]) -> None:
    engine = make_engine(f"sqlite:///{path}")
    barrier.wait()  # every thread reaches create_all at about the same moment
    try:
        Store(engine)
    except BaseException as exc:
        errors.append(exc)


def test_many_openers_of_one_fresh_sqlite_file_all_start(tmp_path: Path) -> None:
    """Fails without the retry (6 threads x 5 fresh files: "table ... already exists")."""
    errors: list[BaseException] = []
    for round_ in range(5):
        barrier = threading.Barrier(6)
        args = (tmp_path / f"round-{round_}.db", barrier, errors)
        threads = [threading.Thread(target=_open, args=args) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
