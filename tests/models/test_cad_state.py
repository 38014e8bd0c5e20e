"""CAD snapshots: version 2 round trips for every memory, version 1 still reads, corruption is refused."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from forewarn.models import cad_native
from forewarn.models.cad import ContextDetector
from forewarn.models.cad_memory import ContextMemory
from forewarn.models.cad_native import NativeContextMemory
from forewarn.models.cad_state import pack, unpack
from tests.models import NEEDS_C
from tests.models import cad_memory_python as oracle
from tests.models.cad_state_v1 import pack_v1
from tests.models.test_cad_memory import _assert_same_memory, _real_shaped_stream

pytestmark = pytest.mark.unit


def _learned(memory: Any, steps: int = 3000, max_contexts: int = 2000) -> Any:
    for facts in _real_shaped_stream(4, steps):
        memory.commit(memory.plan(facts))
        if len(memory) > max_contexts:
            memory.prune(max_contexts // 2)
    return memory


@pytest.fixture(scope="module")
def reference() -> Any:
    return _learned(oracle.ContextMemory(7, 15))


@pytest.mark.parametrize("kind", ["oracle", "numpy", pytest.param("c", marks=NEEDS_C)])
def test_version_2_round_trips_every_memory(kind: str, reference: Any) -> None:
    make = {"oracle": oracle.ContextMemory, "numpy": ContextMemory, "c": NativeContextMemory}[kind]
    memory = _learned(make(7, 15))
    _assert_same_memory(reference, memory)
    restored = unpack(pack(memory))
    assert type(restored) is (NativeContextMemory if cad_native.library() else ContextMemory)
    _assert_same_memory(reference, restored)
    assert pack(restored) == pack(memory) == pack(reference)


def test_version_1_snapshots_still_restore(reference: Any) -> None:
    """A store written before version 2 restores to the same memory, and is written as version 2 next."""
    old = pack_v1(reference)
    restored = unpack(old)
    _assert_same_memory(reference, restored)
    assert pack(restored) == pack(reference) != old


def test_version_2_is_smaller_than_version_1(reference: Any) -> None:
    """Narrow columns compress better: the 20 KB per series bound got easier, not harder."""
    assert len(pack(reference)) < len(pack_v1(reference))


def test_wide_values_take_wide_columns() -> None:
    memory = ContextMemory.restore(
        7, 15, [(0, 40)], [(1, 63)], [0], [0], [1 << 40], [True], [5], 1 << 33, (0, (1 << 31) + 0)
    )
    restored = unpack(pack(memory))
    assert restored.ctx_count == [1 << 40] and restored.right_facts == [(1, 63)]
    assert restored.clock == 1 << 33 and restored.ctx_last == [5] and restored.prev == (0, (1 << 31))


@pytest.mark.parametrize("cut", [3, 20, -5])
def test_corrupt_snapshots_are_refused(cut: int, reference: Any) -> None:
    import cramjam

    raw = bytes(cramjam.zstd.decompress(pack(reference)))
    broken = bytes(cramjam.zstd.compress(raw[:cut], level=1))
    with pytest.raises(ValueError, match="corrupt"):
        unpack(broken)


def test_a_detector_pickle_is_version_2_and_restores() -> None:
    model = ContextDetector(value_range=(0.0, 100.0))
    for i in range(500):
        model.learn_one({"value": float(i % 37)})
    blob = pickle.dumps(model)
    assert b"\x28\xb5\x2f\xfd" in blob  # the zstd frame of version 2
    twin = pickle.loads(blob)
    assert twin.score_one({"value": 90.0}) == model.score_one({"value": 90.0})
    assert pickle.dumps(twin) == blob


@NEEDS_C
@pytest.mark.parametrize("max_contexts", [10, 2000])
def test_the_c_body_is_the_python_body(max_contexts: int) -> None:
    """The C memory writes the snapshot body itself; byte for byte what the Python path writes."""
    from forewarn.models.cad_state import pack_body

    memory = _learned(NativeContextMemory(7, 15), steps=1500, max_contexts=max_contexts)
    assert memory.packed_body() == pack_body(_PythonView(memory))
    empty = NativeContextMemory(7, 15)
    assert empty.packed_body() == pack_body(_PythonView(empty))


class _PythonView:
    """The C memory's columns through the list properties, so ``pack_body`` takes the Python path."""

    def __init__(self, memory: NativeContextMemory) -> None:
        self._memory = memory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._memory, name)


@NEEDS_C
def test_a_young_memory_is_stored_uncompressed_and_restores() -> None:
    memory = NativeContextMemory(7, 15)
    for facts in list(_real_shaped_stream(6, 4)):
        memory.commit(memory.plan(facts))
    blob = pack(memory)
    assert blob == memory.packed_body()  # small: as it is
    _assert_same_memory(memory, unpack(blob))


@NEEDS_C
def test_the_c_restore_is_the_column_restore(reference: Any) -> None:
    """A recovery restores in C from the body; the same memory as the column-by-column restore."""
    from forewarn.models.cad_state import _unpack_v2_columns, pack_body

    body = pack_body(reference)
    by_c = NativeContextMemory.from_body(body)
    _assert_same_memory(reference, by_c)
    _assert_same_memory(reference, _unpack_v2_columns(body))
    with pytest.raises(ValueError, match="corrupt"):
        NativeContextMemory.from_body(body[:-3])
    flipped = bytearray(body)
    flipped[8 * 5 + 8] = 9  # the first column's width
    with pytest.raises(ValueError, match="corrupt"):
        NativeContextMemory.from_body(bytes(flipped))
    with pytest.raises(ValueError, match="corrupt"):
        _unpack_v2_columns(bytes(flipped))
