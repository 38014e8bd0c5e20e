"""How a CAD memory is stored in a snapshot: columns of the narrowest unsigned ints, zstd-compressed.

Why it matters: the dataflow snapshots every series it touched once a second (``pipeline.
snapshot_interval_seconds``), so a CAD detector's pickle is paid per series per second. The first
format (version 1: fixed-width columns, zlib level 9) spent tens of milliseconds in zlib on a full
memory, which made CAD unusable as a live detector beyond a few series. Version 2 stores each column
in the narrowest of uint8/16/32/64 that holds it (neuron facts as ``64 + id``, so every column is
non-negative) and compresses with zstd level 1, zstd's fastest level that still packs smaller than
version 1; the snapshot is on the hot path. A body of at most ``_STORE_RAW`` bytes (a young memory)
is stored as it is, and the C memory writes the body in one call. Figures are in ``bench/README.md``.
Version 1 snapshots are still read, so a store written before this change restores.
"""

from __future__ import annotations

import array
import zlib
from typing import Any

import cramjam
import numpy as np
import numpy.typing as npt

from forewarn.models.cad_memory import NEURON, ContextMemory, _mask_facts
from forewarn.models.cad_native import NativeContextMemory, native_fits, restore_memory, split_rows

Memory = ContextMemory | NativeContextMemory
IntArray = npt.NDArray[np.int64]

_V1, _V2 = 1, 2
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_V2_RAW = _V2.to_bytes(8, "little")  # an uncompressed body starts with its version (a zlib stream: 0x78)
_STORE_RAW = 512  # bodies up to this many bytes are stored as they are
_WIDTHS = ("<u1", "<u2", "<u4", "<u8")
_COLUMNS = (
    "left_len",
    "left_facts",
    "right_mask",
    "ctx_left",
    "ctx_right",
    "ctx_count",
    "ctx_zero",
    "ctx_age",
    "prev",
)
_V1_CODES = ("B", "i", "B", "i", "i", "i", "q", "B", "q", "i")


def pack(memory: Any) -> bytes:
    """``memory`` (C, numpy, or anything with the pure-Python memory's columns) as version 2 bytes.

    The C memory writes the body itself (one call instead of a dozen array operations, which was
    most of a young detector's pickle); ``tests/models/test_cad_state.py`` checks both ways agree.
    """
    body = memory.packed_body() if isinstance(memory, NativeContextMemory) else pack_body(memory)
    if len(body) <= _STORE_RAW:
        return body  # a young memory: compressing it costs more than the bytes it saves
    return bytes(cramjam.zstd.compress(body, level=1))


def pack_body(memory: Any) -> bytes:
    """The uncompressed version 2 body, built in Python from the memory's columns."""
    columns = _columns_of(memory)
    clock = int(memory.clock)
    out = {
        "left_len": columns["left_len"],
        "left_facts": _encode_facts(columns["left_pool"]),
        "right_mask": columns["right_mask"],
        "ctx_left": columns["ctx_left"],
        "ctx_right": columns["ctx_right"],
        "ctx_count": columns["ctx_count"],
        "ctx_zero": columns["ctx_zero"],
        "ctx_age": clock - columns["ctx_last"],
        "prev": _encode_facts(columns["prev"]),
    }
    header = [_V2, memory.max_left_facts, memory.max_active, clock, len(columns["ctx_left"])]
    body = []
    for name in _COLUMNS:
        width, data = _narrow(np.asarray(out[name]))
        header += [len(out[name]), width]
        body.append(data)
    return np.array(header, dtype="<i8").tobytes() + b"".join(body)


def unpack(blob: bytes) -> Memory:
    """A working memory (C when available) from version 1 or 2 bytes; ValueError when corrupt."""
    if blob[:4] == _ZSTD_MAGIC:
        return _unpack_v2(bytes(cramjam.zstd.decompress(blob)))
    if blob[:8] == _V2_RAW:  # stored uncompressed (``_STORE_RAW``)
        return _unpack_v2(bytes(blob))
    return _unpack_v1(zlib.decompress(blob))


# -- version 2 ------------------------------------------------------------------------------------
def _columns_of(memory: Any) -> dict[str, npt.NDArray[Any]]:
    """The columns as int64 arrays (right masks uint64), from the memory's lists."""
    lefts = memory.left_facts
    return {
        "left_len": np.array([len(f) for f in lefts], dtype=np.int64),
        "left_pool": np.array([f for fs in lefts for f in fs], dtype=np.int64),
        "right_mask": np.array([sum(1 << f for f in fs) for fs in memory.right_facts], dtype=np.uint64),
        "ctx_left": np.array(memory.ctx_left, dtype=np.int64),
        "ctx_right": np.array(memory.ctx_right, dtype=np.int64),
        "ctx_count": np.array(memory.ctx_count, dtype=np.int64),
        "ctx_zero": np.array(memory.ctx_zero, dtype=np.int64),
        "ctx_last": np.array(memory.ctx_last, dtype=np.int64),
        "prev": np.array(memory.prev, dtype=np.int64),
    }


def _encode_facts(facts: IntArray) -> IntArray:
    return np.where(facts >= NEURON, facts - NEURON + 64, facts)


def _decode_facts(stored: list[int]) -> list[int]:
    return [f if f < 64 else NEURON + f - 64 for f in stored]


def _narrow(values: npt.NDArray[Any]) -> tuple[int, bytes]:
    """The narrowest unsigned width that holds ``values`` (an index into ``_WIDTHS``) and the bytes."""
    top = int(values.max()) if values.size else 0
    if values.size and int(values.min()) < 0:
        raise ValueError("a CAD state column holds a negative value")
    width = 0 if top < 1 << 8 else 1 if top < 1 << 16 else 2 if top < 1 << 32 else 3
    return width, values.astype(_WIDTHS[width]).tobytes()


def _unpack_v2(data: bytes) -> Memory:
    """The C memory restores the body itself when it is the memory ``restore_memory`` would make."""
    if len(data) >= 24 and native_fits(int.from_bytes(data[16:24], "little", signed=True)):
        return NativeContextMemory.from_body(data)
    return _unpack_v2_columns(data)


def _unpack_v2_columns(data: bytes) -> Memory:
    fixed = 5 + 2 * len(_COLUMNS)
    if len(data) < 8 * fixed:
        raise ValueError("corrupt ContextDetector state (short header)")
    header = np.frombuffer(data[: 8 * fixed], dtype="<i8").tolist()
    version, max_left, max_active, clock, n = header[:5]
    if version != _V2:
        raise ValueError(f"unknown ContextDetector state version {version}")
    pos, columns = 8 * fixed, {}
    for i, name in enumerate(_COLUMNS):
        count, width = header[5 + 2 * i], header[6 + 2 * i]
        if not 0 <= width < len(_WIDTHS) or count < 0:
            raise ValueError("corrupt ContextDetector state (column header)")
        dtype = np.dtype(_WIDTHS[width])
        end = pos + count * dtype.itemsize
        if end > len(data):
            raise ValueError("corrupt ContextDetector state (truncated)")
        columns[name] = np.frombuffer(data[pos:end], dtype=dtype).tolist()
        pos = end
    if pos != len(data) or len(columns["ctx_left"]) != n:
        raise ValueError("corrupt ContextDetector state (lengths)")
    masks: list[int] = columns["right_mask"]
    return restore_memory(
        max_left,
        max_active,
        left_facts=split_rows(_decode_facts(columns["left_facts"]), columns["left_len"]),
        right_facts=[_mask_facts(m) for m in masks],
        ctx_left=columns["ctx_left"],
        ctx_right=columns["ctx_right"],
        ctx_count=columns["ctx_count"],
        ctx_zero=[bool(z) for z in columns["ctx_zero"]],
        ctx_last=[clock - age for age in columns["ctx_age"]],
        clock=clock,
        prev=tuple(_decode_facts(columns["prev"])),
    )


# -- version 1 (read only) ------------------------------------------------------------------------
def _unpack_v1(raw: bytes) -> Memory:
    data = memoryview(raw)
    head = array.array("q")
    head.frombytes(data[: head.itemsize * (5 + len(_V1_CODES))])
    pos = head.itemsize * len(head)
    version, max_left, max_active, clock, n, *lengths = head
    if version != _V1:
        raise ValueError(f"unknown ContextDetector state version {version}")
    columns: list[array.array[int]] = []
    for code, count in zip(_V1_CODES, lengths, strict=True):
        column = array.array(code)
        size = column.itemsize * count
        column.frombytes(data[pos : pos + size])
        pos += size
        columns.append(column)
    left_len, left, right_len, right, c_left, c_right, c_count, c_zero, c_age, prev = columns
    if len(c_left) != n:
        raise ValueError("corrupt ContextDetector state")
    return restore_memory(
        max_left,
        max_active,
        left_facts=split_rows([_v1_fact(f) for f in left], list(left_len)),
        right_facts=split_rows(list(right), list(right_len)),
        ctx_left=list(c_left),
        ctx_right=list(c_right),
        ctx_count=list(c_count),
        ctx_zero=[bool(z) for z in c_zero],
        ctx_last=[clock - age for age in c_age],
        clock=clock,
        prev=tuple(_v1_fact(f) for f in prev),
    )


def _v1_fact(stored: int) -> int:
    return stored if stored >= 0 else NEURON - 1 - stored


__all__ = ["pack", "unpack"]
