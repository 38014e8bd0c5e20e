"""The C context memory against the pure-Python oracle, plan by plan, and how it is built and loaded.

Why: the C memory must give byte-identical NAB results, so every field of every plan (raw score,
active contexts in walk order, selected count, candidates in order, next facts) and every stored
column must match ``cad_memory_python.py`` (the code checked against the reference CAD OSE), through
pruning, pickling and snapshots; and a machine without a compiler must still run CAD, on numpy.
These tests compile ``cad_native.c`` for real with the machine's ``cc``.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forewarn.models import cad, cad_native
from forewarn.models.cad import ContextDetector
from forewarn.models.cad_memory import ContextMemory
from forewarn.models.cad_native import NativeContextMemory
from forewarn.models.cad_state import pack as _pack
from forewarn.models.cad_state import unpack as _unpack
from tests.models import HAS_C_COMPILER
from tests.models import cad_memory_python as oracle
from tests.models.test_cad_memory import (
    T0,
    _assert_same_memory,
    _drive,
    _random_stream,
    _real_shaped_stream,
)

pytestmark = pytest.mark.unit


# tests of what happens without the C memory: they need no compiler
_WITHOUT_C = {
    "test_disabled_by_env_runs_on_numpy",
    "test_no_compiler_says_so_and_runs_on_numpy",
    "test_the_build_goes_where_forewarns_cache_is",
}


@pytest.fixture(autouse=True)
def _native(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from a fresh load decision (the library is cached per process).

    No compiler on the machine: the tests of the C memory are skipped, saying so, as forewarn then
    runs on the numpy memory; a compiler that fails to build it is a failure.
    """
    cad_native.library.cache_clear()
    compiler = os.environ.get("CC", "cc")
    if request.node.originalname in _WITHOUT_C:
        yield
        cad_native.library.cache_clear()
        return
    if not HAS_C_COMPILER:
        pytest.skip(f"no C compiler ({compiler!r} is not on PATH): the C memory cannot be built here")
    if cad_native.library() is None:
        pytest.fail(f"the C memory did not build with {compiler!r} (see the log)")
    yield
    cad_native.library.cache_clear()


def test_the_c_hash_is_pythons_tuple_hash() -> None:
    """Equally used contexts are ranked by these hashes, so they must be CPython's, bit for bit."""
    rng = random.Random(3)
    for n in range(20):
        facts = tuple(sorted([*rng.sample(range(64), min(n, 12)), (1 << 31) + rng.randrange(50_000)]))
        assert cad_native.python_hash(facts) == hash(facts)
    assert cad_native.python_hash(()) == hash(())


def test_a_plans_lists_are_read_before_the_next_plan() -> None:
    memory = NativeContextMemory(7, 15)
    for facts in _random_stream(4, 50, 3):
        memory.commit(memory.plan(facts))
    first = memory.plan((0, 2, 4))
    memory.details(first)
    memory.plan((1, 3, 5))
    with pytest.raises(ValueError, match="last one"):
        memory.details(first)  # its lists were replaced by the second plan's


def test_step_is_plan_then_commit() -> None:
    stepped, planned = NativeContextMemory(7, 15), NativeContextMemory(7, 15)
    for facts in _real_shaped_stream(5, 1500):
        plan = planned.plan(facts)
        planned.commit(plan)
        assert stepped.step(facts) == plan.raw
    _assert_same_memory(planned, stepped)


def test_pickle_and_snapshot_round_trips_continue_the_same_stream() -> None:
    old: Any = oracle.ContextMemory(7, 15)
    new = _drive(old, NativeContextMemory(7, 15), _random_stream(7, 800, 3), max_contexts=250)
    pickled = pickle.loads(pickle.dumps(new))
    _assert_same_memory(old, pickled)
    restored: Any = _unpack(_pack(old))  # a snapshot written by the pure-Python memory
    assert isinstance(restored, NativeContextMemory)
    _assert_same_memory(old, restored)
    twin = pickle.loads(pickle.dumps(old))
    _drive(twin, pickled, _random_stream(8, 500, 3), max_contexts=250)
    _drive(old, restored, _random_stream(8, 500, 3), max_contexts=250)


def test_restore_rejects_inconsistent_columns() -> None:
    restore = NativeContextMemory.restore
    with pytest.raises(ValueError, match="different lengths"):
        restore(7, 15, [(0,)], [(1,)], [0, 0], [0], [0], [True], [0], 0, ())
    with pytest.raises(ValueError):  # an unknown left semi-context
        restore(7, 15, [(0,)], [(1,)], [1], [0], [0], [True], [0], 0, ())
    with pytest.raises(ValueError):  # a context stored twice
        restore(7, 15, [(0,)], [(1,)], [0, 0], [0, 0], [0, 0], [True, True], [0, 0], 0, ())
    with pytest.raises(ValueError):  # a left semi-context stored twice
        restore(7, 15, [(0,), (0,)], [(1,)], [0], [0], [0], [True], [0], 0, ())
    with pytest.raises(ValueError):  # facts out of order
        restore(7, 15, [(3, 0)], [(1,)], [0], [0], [0], [True], [0], 0, ())
    with pytest.raises(ValueError):  # a neuron naming no context
        restore(7, 15, [(0, (1 << 31) + 5)], [(1,)], [0], [0], [0], [True], [0], 0, ())
    with pytest.raises(ValueError, match=r"\[0, 64\)"):
        NativeContextMemory(7, 15).plan((64,))


def test_too_many_neurons_for_a_word_fall_back_to_numpy() -> None:
    with pytest.raises(ValueError, match="max_active"):
        NativeContextMemory(7, 60)
    assert type(cad_native.new_memory(7, 60)) is ContextMemory
    assert type(cad_native.new_memory(7, 15)) is NativeContextMemory


@pytest.mark.parametrize("online", [False, True])
def test_the_detector_scores_and_stores_as_over_the_oracle(
    online: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ContextDetector over the oracle and over the C memory: same scores, same pickle, through relearns."""
    rng = random.Random(12)
    values = [50.0 + 30.0 * math.sin(i / 20.0) + rng.gauss(0.0, 3.0) for i in range(2500)]
    values[1200:1210] = [170.0] * 10  # a spike: online, the range is widened and relearned
    kwargs: dict[str, Any] = (
        {"max_contexts": 400} if online else {"max_contexts": 400, "value_range": (0, 120)}
    )
    new = ContextDetector(**kwargs)
    assert type(new.memory) is NativeContextMemory
    monkeypatch.setattr(cad, "memory_factory", oracle.ContextMemory)
    old = ContextDetector(**kwargs)
    monkeypatch.undo()
    for i, v in enumerate(values):
        x = {"value": v}
        expected = old.score_one(x, T0 + 60 * i)
        old.learn_one(x, T0 + 60 * i)
        assert new.score_learn_one(x, T0 + 60 * i) == expected
        if i == 1500:
            new = pickle.loads(pickle.dumps(new))  # a recovery mid-stream changes nothing
            assert type(new.memory) is NativeContextMemory
    assert type(new.memory) is NativeContextMemory
    assert pickle.dumps(new) == pickle.dumps(old)


def test_disabled_by_env_runs_on_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_CAD_NATIVE", "0")
    cad_native.library.cache_clear()
    assert cad_native.library() is None
    assert type(ContextDetector().memory) is ContextMemory


def test_no_compiler_says_so_and_runs_on_numpy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FOREWARN_CACHE_DIR", str(tmp_path))  # nothing built there yet
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    cad_native.library.cache_clear()
    with caplog.at_level(logging.WARNING, logger="forewarn.models.cad_native"):
        assert cad_native.library() is None
    assert "numpy memory" in caplog.text
    model = ContextDetector(value_range=(0.0, 1.0))
    assert type(model.memory) is ContextMemory
    assert model.score_learn_one({"value": 0.5}).score == 0.0


def test_the_build_is_cached_by_source_and_atomic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOREWARN_CACHE_DIR", str(tmp_path))
    built = cad_native.build()
    assert built.parent == tmp_path / "native" and built.suffix == ".so"
    assert [p.name for p in built.parent.iterdir()] == [built.name]  # no temporary file left
    stamp = built.stat().st_mtime_ns
    assert cad_native.build() == built and built.stat().st_mtime_ns == stamp  # not built twice
    cad_native.library.cache_clear()
    assert cad_native.library() is not None
    assert Path(cad_native.library()._name) == built  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "env",
    [{}, {"XDG_CACHE_HOME": "/x/cache"}, {"FOREWARN_CACHE_DIR": "/y/fw", "XDG_CACHE_HOME": "/x/cache"}],
)
def test_the_build_goes_where_forewarns_cache_is(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    from forewarn.settings import cache_dir

    monkeypatch.delenv("FOREWARN_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cad_native.cache_root() == cache_dir()
