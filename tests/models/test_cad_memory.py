"""The numpy and the C context memories against the pure-Python one they replaced, plan by plan.

Why: both must give byte-identical NAB results, so every field of every plan (raw score, active
contexts in walk order, selected count, candidates in order, next facts) and every stored column
must match the pure-Python memory (``cad_memory_python.py``, the code that was checked against the
reference CAD OSE) on random and real-shaped streams, through pruning, pickling and restoring from a
snapshot. What only the C memory has (its build, its hash, its fallback) is in ``test_cad_native.py``.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Iterator
from typing import Any

import pytest

from forewarn.models import cad, cad_state
from forewarn.models.cad import ContextDetector
from forewarn.models.cad_memory import ContextMemory
from forewarn.models.cad_native import NativeContextMemory, NativePlan
from forewarn.models.cad_state import pack as _pack
from forewarn.models.cad_state import unpack as _unpack
from tests.models import NEEDS_C
from tests.models import cad_memory_python as oracle

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


def _random_facts(rng: random.Random, bits: int) -> tuple[int, ...]:
    """A bin's value facts, mostly a slow walk over a few patterns, sometimes out of range."""
    if rng.random() < 0.03:
        return (2 * bits + rng.randrange(2),)
    q = rng.randrange(1 << bits)
    return tuple(2 * i + ((q >> i) & 1) for i in range(bits))


def _random_stream(seed: int, steps: int, bits: int) -> Iterator[tuple[int, ...]]:
    rng = random.Random(seed)
    walk = [_random_facts(rng, bits) for _ in range(40)]
    for i in range(steps):
        yield walk[(i * 7 + i // 50) % len(walk)] if rng.random() < 0.75 else _random_facts(rng, bits)


def _real_shaped_stream(seed: int, steps: int, bits: int = 3) -> Iterator[tuple[int, ...]]:
    """Facts of a gauge with a daily cycle, noise, a level shift and spikes, quantised as CAD does."""
    rng = random.Random(seed)
    quantiser = ContextDetector(value_bits=bits, value_range=(0.0, 100.0))
    for i in range(steps):
        value = 40.0 + 25.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 4.0)
        value += 20.0 if i > steps // 2 else 0.0
        if rng.random() < 0.01:
            value = rng.choice((-30.0, 180.0, 99.0))
        yield quantiser._facts(value)


MEMORIES = [pytest.param(ContextMemory, id="numpy"), pytest.param(NativeContextMemory, id="c", marks=NEEDS_C)]
_FIELDS = ("raw", "sens", "zero", "zero_id", "selected", "active", "candidates", "next_left")


def _fields(memory: Any, plan: Any) -> dict[str, Any]:
    """A plan's fields; the C memory keeps the lists in C until the next plan (``details``)."""
    if isinstance(plan, NativePlan):
        lists = memory.details(plan)
        return {f: getattr(plan, f) if hasattr(plan, f) else getattr(lists, f) for f in _FIELDS}
    return {f: getattr(plan, f) for f in _FIELDS}


def _assert_same_plan(old: Any, memory: Any, plan: Any) -> None:
    assert _fields(memory, plan) == {f: getattr(old, f) for f in _FIELDS}


def _assert_same_memory(old: Any, new: Any) -> None:
    assert len(new) == len(old)
    assert new.left_facts == old.left_facts
    assert new.right_facts == old.right_facts
    assert new.ctx_left == old.ctx_left
    assert new.ctx_right == old.ctx_right
    assert new.ctx_count == old.ctx_count
    assert new.ctx_zero == old.ctx_zero
    assert new.ctx_last == old.ctx_last
    assert (new.clock, new.prev) == (old.clock, old.prev)
    assert _pack(new) == _pack(old)  # the snapshot bytes too


def _drive(
    old: Any,
    new: Any,
    stream: Iterator[tuple[int, ...]],
    max_contexts: int,
    check_every: int = 97,
) -> Any:
    """Step both memories through ``stream``, pruning as ``ContextDetector`` does; the new memory."""
    for i, facts in enumerate(stream):
        plan_old, plan_new = old.plan(facts), new.plan(facts)
        _assert_same_plan(plan_old, new, plan_new)
        old.commit(plan_old)
        new.commit(plan_new)
        if len(old) > max_contexts:
            old.prune(max_contexts // 2)
            new.prune(max_contexts // 2)
            _assert_same_memory(old, new)
        if i % check_every == 0:
            _assert_same_memory(old, new)
    _assert_same_memory(old, new)
    return new


@pytest.mark.parametrize("make", MEMORIES)
@pytest.mark.parametrize(("max_left", "max_active"), [(7, 15), (3, 2), (2, 0), (12, 40)])
@pytest.mark.parametrize("bits", [1, 3, 12])
def test_random_streams_give_the_same_plans(make: Any, max_left: int, max_active: int, bits: int) -> None:
    old, new = oracle.ContextMemory(max_left, max_active), make(max_left, max_active)
    _drive(old, new, _random_stream(bits * 100 + max_active, 1500, bits), max_contexts=300)


@pytest.mark.parametrize("make", MEMORIES)
def test_value_facts_across_the_whole_mask_give_the_same_plans(make: Any) -> None:
    """Facts f and f + 32 share a signature bit; the exact check must tell them apart."""
    rng = random.Random(21)
    stream = [tuple(f + 32 * rng.randrange(2) for f in facts) for facts in _random_stream(5, 1500, 4)]
    old, new = oracle.ContextMemory(7, 15), make(7, 15)
    _drive(old, new, iter(stream), max_contexts=300)


@pytest.mark.parametrize("make", MEMORIES)
@pytest.mark.parametrize("seed", [1, 2])
def test_real_shaped_streams_give_the_same_plans_through_pruning(make: Any, seed: int) -> None:
    old, new = oracle.ContextMemory(7, 15), make(7, 15)
    _drive(old, new, _real_shaped_stream(seed, 4000), max_contexts=2000)


@pytest.mark.parametrize("make", MEMORIES)
def test_scoring_several_values_before_a_commit_gives_the_same_plans(make: Any) -> None:
    """score_one and explain_one plan values that are never committed; the step after is the oracle's.

    (The C memory plans the step again at commit: the probes replaced its pending plan.)
    """
    old, new = oracle.ContextMemory(7, 15), make(7, 15)
    rng = random.Random(9)
    for facts in _random_stream(4, 600, 3):
        plan_new = new.plan(facts)
        for _ in range(2):
            probe = _random_facts(rng, 3)
            _assert_same_plan(old.plan(probe), new, new.plan(probe))
        plan_old = old.plan(facts)
        if not isinstance(plan_new, NativePlan):
            _assert_same_plan(plan_old, new, plan_new)
        old.commit(plan_old)
        new.commit(plan_new)
    _assert_same_memory(old, new)


def test_pickle_and_snapshot_round_trips_continue_the_same_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cad_state, "restore_memory", ContextMemory.restore)  # the numpy memory, not the C one
    monkeypatch.setattr(cad_state, "native_fits", lambda max_active: False)
    old: Any = oracle.ContextMemory(7, 15)  # quacks like a ContextMemory for ``_pack``
    new = ContextMemory(7, 15)
    _drive(old, new, _random_stream(7, 800, 3), max_contexts=250)
    pickled = pickle.loads(pickle.dumps(new))
    _assert_same_memory(old, pickled)
    restored: Any = _unpack(_pack(old))  # a snapshot written by the pure-Python memory
    _assert_same_memory(old, restored)
    twin = pickle.loads(pickle.dumps(old))
    _drive(twin, pickled, _random_stream(8, 500, 3), max_contexts=250)
    _drive(old, restored, _random_stream(8, 500, 3), max_contexts=250)


def test_restore_rejects_inconsistent_columns() -> None:
    with pytest.raises(ValueError):
        ContextMemory.restore(7, 15, [(0,)], [(1,)], [0, 0], [0], [0], [True], [0], 0, ())
    with pytest.raises(ValueError):
        ContextMemory.restore(7, 15, [(0,)], [(1,)], [1], [0], [0], [True], [0], 0, ())
    with pytest.raises(ValueError):
        ContextMemory(7, 15).plan((64,))  # value facts are bits of a 64-bit mask


@pytest.mark.parametrize("online", [False, True])
def test_the_detector_scores_and_stores_the_same_with_either_memory(
    online: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ContextDetector over the pure-Python memory and over the numpy one: same scores, same pickle.

    (``test_cad_native.py`` does the same for the C memory.)
    """
    rng = random.Random(12)
    values = [50.0 + 30.0 * math.sin(i / 20.0) + rng.gauss(0.0, 3.0) for i in range(2500)]
    values[1200:1210] = [170.0] * 10  # a spike: online, the range is widened and relearned
    kwargs: dict[str, Any] = (
        {"max_contexts": 400} if online else {"max_contexts": 400, "value_range": (0, 120)}
    )
    monkeypatch.setattr(cad, "memory_factory", ContextMemory)
    new = ContextDetector(**kwargs)
    assert type(new.memory) is ContextMemory
    monkeypatch.setattr(cad, "memory_factory", oracle.ContextMemory)
    old = ContextDetector(**kwargs)
    for i, v in enumerate(values):
        x = {"value": v}
        expected = old.score_one(x, T0 + 60 * i)
        old.learn_one(x, T0 + 60 * i)
        monkeypatch.setattr(cad, "memory_factory", ContextMemory)
        assert new.score_learn_one(x, T0 + 60 * i) == expected
        assert type(new.memory) is ContextMemory  # a relearn makes a new one
        monkeypatch.setattr(cad, "memory_factory", oracle.ContextMemory)
    assert pickle.dumps(new) == pickle.dumps(old)
