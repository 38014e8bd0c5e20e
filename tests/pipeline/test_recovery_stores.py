"""Stale default recovery stores are removed at start; fresh ones, the one in use and others are not."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from forewarn.pipeline.recovery_stores import last_written, prune_stale_stores
from forewarn.pipeline.runner import RunOptions, prune_default_stores
from forewarn.settings import PipelineSettings, Settings

pytestmark = pytest.mark.unit

DAY = 86400.0
NOW = 1_800_000_000.0


def _store(root: Path, name: str, age_days: float, fresh_file_days: float | None = None) -> Path:
    """A store directory with a part file, everything last written ``age_days`` before NOW."""
    store = root / name
    store.mkdir(parents=True)
    part = store / "part-0.sqlite3"
    part.write_bytes(b"snapshots")
    stamp = NOW - age_days * DAY
    for path in (part, store):
        os.utime(path, (stamp, stamp))
    if fresh_file_days is not None:  # a file written later than the rest (the dataflow still writes)
        late = store / "part-0.sqlite3-wal"
        late.write_bytes(b"wal")
        os.utime(late, (NOW - fresh_file_days * DAY, NOW - fresh_file_days * DAY))
        os.utime(store, (stamp, stamp))
    return store


def test_only_stale_default_stores_go(tmp_path: Path) -> None:
    stale = _store(tmp_path, "0123456789abcdef", age_days=8)
    fresh = _store(tmp_path, "fedcba9876543210", age_days=6)
    in_use = _store(tmp_path, "00000000000000aa", age_days=30)  # this run's: kept whatever its age
    still_written = _store(tmp_path, "00000000000000bb", age_days=30, fresh_file_days=0.01)
    foreign = _store(tmp_path, "my-own-store", age_days=30)  # not a default store's name
    removed = prune_stale_stores(tmp_path, in_use, 7 * DAY, NOW)
    assert removed == [stale] and not stale.exists()
    assert all(p.exists() for p in (fresh, in_use, still_written, foreign))
    assert last_written(still_written) == pytest.approx(NOW - 0.01 * DAY)


def test_age_zero_or_no_root_removes_nothing(tmp_path: Path) -> None:
    stale = _store(tmp_path, "0123456789abcdef", age_days=100)
    assert prune_stale_stores(tmp_path, None, 0.0, NOW) == [] and stale.exists()
    assert prune_stale_stores(tmp_path / "missing", None, 7 * DAY, NOW) == []


def test_a_run_on_a_default_store_prunes_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_CACHE_DIR", str(tmp_path))
    root = tmp_path / "recovery"
    old = _store(root, "0123456789abcdef", age_days=1)
    os.utime(old / "part-0.sqlite3", (time.time() - 8 * DAY,) * 2)
    os.utime(old, (time.time() - 8 * DAY,) * 2)
    mine = root / "fedcba9876543210"
    said: list[str] = []
    given = Settings(pipeline=PipelineSettings(recovery_dir=tmp_path / "given"))
    prune_default_stores(given, RunOptions(), mine, said.append)  # a given store: the cache is not ours
    assert old.exists() and said == []
    prune_default_stores(Settings(), RunOptions(), mine, said.append)
    assert not old.exists()
    assert said == ["removed 1 recovery store(s) no run wrote for 7 days: 0123456789abcdef"]
