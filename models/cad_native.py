"""The compiled CAD context memory (``cad_native.c``), built once per machine and loaded with ctypes.

Why compiled: a numpy step pays a dozen fixed-cost array calls even when it has little to do, while
a CAD step is a walk over a few hundred contexts with hash lookups, which C does far faster (figures
in ``bench/README.md``). Why ctypes and a build on first use: it needs only a C compiler (``cc``, or
``$CC``), no Python headers and no build step in the install, and the shared library is cached
under ``cache_root()/native`` (forewarn's cache) keyed by the source's hash, so a second run, and
every other process, loads it at once. Without a compiler, or with ``FOREWARN_CAD_NATIVE=0``,
``new_memory`` returns the numpy memory, which gives the same plans (``tests/models/test_cad_memory.py``
checks both against the pure-Python oracle).

The library is loaded with ``ctypes.PyDLL``: calls keep the GIL, which is cheaper than releasing it
for a few µs and makes a memory safe to share between threads the way Python objects are.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from forewarn.models.cad_memory import NEURON, ContextMemory, Pair, _mask_facts, _sens

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("cad_native.c")
_FLAGS = ("-O2", "-shared", "-fPIC", "-std=c11")
_MAX_FACTS = 64  # value facts of a step plus ranked neurons: bits of one word (``cad_native.c``)
_ERRORS = {-1: MemoryError, -2: ValueError}

_i64 = ctypes.c_int64
_u64 = ctypes.c_uint64
_ptr = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "cm_new": (_ptr, [_i64, _i64]),
    "cm_free": (None, [_ptr]),
    "cm_clock": (_i64, [_ptr]),
    "cm_hash": (_i64, [_ptr, _i64]),
    "cm_plan": (_i64, [_ptr, _u64, ctypes.POINTER(ctypes.c_double)]),
    "cm_commit": (_i64, [_ptr, _u64]),
    "cm_step": (_i64, [_ptr, _u64, ctypes.POINTER(ctypes.c_double)]),
    "cm_prune": (_i64, [_ptr, _i64]),
    "cm_restore_left": (_i64, [_ptr, _ptr, _i64, _i64]),
    "cm_restore_right": (_i64, [_ptr, _u64]),
    "cm_restore_context": (_i64, [_ptr, _i64, _i64, _i64, _i64, _i64]),
    "cm_restore_state": (_i64, [_ptr, _i64, _ptr, _i64]),
    "cm_sizes": (None, [_ptr, _ptr]),
    "cm_export": (None, [_ptr] * 10),
    "cm_plan_sizes": (_i64, [_ptr, _ptr]),
    "cm_pack_bound": (_i64, [_ptr]),
    "cm_pack": (_i64, [_ptr, _ptr, _i64]),
    "cm_unpack": (_i64, [_ptr, ctypes.c_char_p, _i64]),
    "cm_plan_lists": (None, [_ptr] * 5),
}


def disabled() -> bool:
    """``FOREWARN_CAD_NATIVE=0`` (or false/no/off) keeps the numpy memory."""
    return os.environ.get("FOREWARN_CAD_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def cache_root() -> Path:
    """``forewarn.settings.cache_dir()``'s rule, repeated so that models/ imports nothing of the core.

    ``tests/models/test_cad_native.py`` checks the two agree.
    """
    root = os.environ.get("FOREWARN_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "forewarn"


def _target() -> Path:
    key = hashlib.sha256(SOURCE.read_bytes())
    key.update(" ".join((*_FLAGS, platform.machine(), sys.platform)).encode())
    return cache_root() / "native" / f"cad_native-{key.hexdigest()[:16]}.so"


def build(target: Path | None = None) -> Path:
    """Compile ``cad_native.c`` into the cache (atomically: parallel builds never see half a file)."""
    target = target or _target()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    compiler = os.environ.get("CC", "cc")
    fd, tmp = tempfile.mkstemp(prefix=target.stem, suffix=".so.tmp", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run(
            [compiler, *_FLAGS, "-o", tmp, str(SOURCE)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@cache
def library() -> ctypes.PyDLL | None:
    """The loaded library, or None (disabled, or no compiler: said once in the log)."""
    if disabled():
        return None
    try:
        lib = ctypes.PyDLL(str(build()))
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        log.warning("CAD runs on the numpy memory: the C memory did not build or load (%s)", detail)
        return None
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def _check(code: int, what: str) -> int:
    if code < 0:
        raise _ERRORS.get(code, RuntimeError)(f"CAD memory: {what} failed (code {code})")
    return code


def _address(array: npt.NDArray[Any]) -> int:
    return int(array.ctypes.data)


def split_rows(flat: list[int], lengths: list[int]) -> list[tuple[int, ...]]:
    """``flat`` cut into consecutive rows of ``lengths`` (how a snapshot stores semi-contexts)."""
    out, pos = [], 0
    for n in lengths:
        out.append(tuple(flat[pos : pos + n]))
        pos += n
    return out


@dataclass(slots=True)
class NativePlan:
    """One planned step: what the detector reads (``raw``, ``sens``), the rest on demand.

    The lists (active contexts, candidates, next facts) live in the C memory until the next plan,
    so ``details`` must be read before planning again; the oracle test does.
    """

    sens: tuple[int, ...]
    mask: int
    raw: float
    selected: int
    version: int
    serial: int  # which plan of the memory this is: ``details`` needs the last one


@dataclass(slots=True)
class PlanDetails:
    """A plan's lists, in the pure-Python memory's terms (``cad_memory_python.Plan``)."""

    zero: Pair | None
    zero_id: int | None
    active: list[int]
    candidates: list[Pair]
    next_left: tuple[int, ...]


class NativeContextMemory:
    """``ContextMemory``'s interface over the C memory: plan, commit, prune, columns, restore."""

    def __init__(self, max_left_facts: int = 7, max_active: int = 15) -> None:
        lib = library()
        if lib is None:
            raise RuntimeError("the C memory is not available (see the log)")
        if not 0 <= max_active <= _MAX_FACTS - 12 or max_left_facts < 0:
            raise ValueError(f"max_active must be in [0, {_MAX_FACTS - 12}] for the C memory")
        self._lib = lib
        self.max_left_facts = max_left_facts
        self.max_active = max_active
        self._mem = lib.cm_new(max_left_facts, max_active)
        if not self._mem:
            raise MemoryError("CAD memory: allocation failed")
        self._version = 0  # plans remember it; commit and prune move it on
        self._serial = 0  # plans made
        self._size = 0
        self._raw = ctypes.c_double()
        self._raw_ref = ctypes.byref(self._raw)

    def __del__(self) -> None:
        mem, self._mem = getattr(self, "_mem", None), None
        if mem:
            self._lib.cm_free(mem)

    def __len__(self) -> int:
        return self._size

    # -- one step --------------------------------------------------------------------------------
    def plan(self, value_facts: tuple[int, ...]) -> NativePlan:
        """Score the step for ``value_facts`` against the memory, without learning."""
        sens, mask, _ = _sens(tuple(value_facts))
        selected = _check(self._lib.cm_plan(self._mem, mask, self._raw_ref), "plan")
        self._serial += 1
        return NativePlan(sens, mask, self._raw.value, selected, self._version, self._serial)

    def details(self, plan: NativePlan) -> PlanDetails:
        """The lists of ``plan``, which must be the last one made on this state."""
        if plan.version != self._version or plan.serial != self._serial:
            raise ValueError("the plan is not the memory's last one: its lists are gone")
        sizes = np.zeros(6, dtype=np.int64)
        _check(self._lib.cm_plan_sizes(self._mem, _address(sizes)), "details")
        n_active, n_next, n_candidates, zero_id, has_zero, _ = sizes.tolist()
        active = np.zeros(n_active, dtype=np.int64)
        following = np.zeros(n_next, dtype=np.int64)
        shared = np.zeros(n_candidates, dtype=np.int64)
        hit = np.zeros(n_candidates, dtype=np.int64)
        self._lib.cm_plan_lists(self._mem, *map(_address, (active, following, shared, hit)))
        prev = self.prev
        return PlanDetails(
            zero=(prev, plan.sens) if has_zero else None,
            zero_id=None if zero_id < 0 else zero_id,
            active=active.tolist(),
            candidates=[
                (tuple(f for i, f in enumerate(prev) if s >> i & 1), _mask_facts(h))
                for s, h in zip(shared.tolist(), hit.tolist(), strict=True)
            ],
            next_left=tuple(following.tolist()),
        )

    def step(self, value_facts: tuple[int, ...]) -> float:
        """Plan and commit one step in one call; its raw score (what ``score_learn_one`` needs)."""
        mask = _sens(value_facts)[1]
        self._serial += 1
        self._size = _check(self._lib.cm_step(self._mem, mask, self._raw_ref), "step")
        self._version += 1
        return self._raw.value

    def commit(self, plan: NativePlan) -> None:
        """Learn the planned step (planned again in C when another plan came in between)."""
        self._size = _check(self._lib.cm_commit(self._mem, plan.mask), "commit")
        self._version += 1

    def prune(self, keep: int) -> None:
        """Keep the ``keep`` most recently active contexts, as ``ContextMemory.prune``."""
        self._size = _check(self._lib.cm_prune(self._mem, keep), "prune")
        self._version += 1

    # -- the columns a snapshot stores -----------------------------------------------------------
    def _columns(self) -> dict[str, Any]:
        """Every stored column as arrays, read from C (snapshots use ``packed_body`` instead)."""
        sizes = np.zeros(5, dtype=np.int64)
        self._lib.cm_sizes(self._mem, _address(sizes))
        n_left, pool, n_right, n, n_prev = sizes.tolist()
        out = {
            "left_len": np.zeros(n_left, dtype=np.int64),
            "left_pool": np.zeros(pool, dtype=np.int64),
            "right_mask": np.zeros(n_right, dtype=np.uint64),
            "ctx_left": np.zeros(n, dtype=np.int64),
            "ctx_right": np.zeros(n, dtype=np.int64),
            "ctx_count": np.zeros(n, dtype=np.int64),
            "ctx_zero": np.zeros(n, dtype=np.int64),
            "ctx_last": np.zeros(n, dtype=np.int64),
            "prev": np.zeros(n_prev, dtype=np.int64),
        }
        self._lib.cm_export(self._mem, *map(_address, out.values()))
        return out

    def packed_body(self) -> bytes:
        """The uncompressed body of a version 2 snapshot (``cad_state.py``), written by C in one call."""
        bound = int(self._lib.cm_pack_bound(self._mem))
        buffer = (ctypes.c_uint8 * bound)()
        size = _check(self._lib.cm_pack(self._mem, ctypes.addressof(buffer), bound), "pack")
        return bytes(memoryview(buffer)[:size])

    @property
    def left_facts(self) -> list[tuple[int, ...]]:
        columns = self._columns()
        return split_rows(columns["left_pool"].tolist(), columns["left_len"].tolist())

    @property
    def right_facts(self) -> list[tuple[int, ...]]:
        return [_mask_facts(m) for m in self._columns()["right_mask"].tolist()]

    @property
    def ctx_left(self) -> list[int]:
        return self._columns()["ctx_left"].tolist()  # type: ignore[no-any-return]

    @property
    def ctx_right(self) -> list[int]:
        return self._columns()["ctx_right"].tolist()  # type: ignore[no-any-return]

    @property
    def ctx_count(self) -> list[int]:
        return self._columns()["ctx_count"].tolist()  # type: ignore[no-any-return]

    @property
    def ctx_zero(self) -> list[bool]:
        return [bool(z) for z in self._columns()["ctx_zero"].tolist()]

    @property
    def ctx_last(self) -> list[int]:
        return self._columns()["ctx_last"].tolist()  # type: ignore[no-any-return]

    @property
    def prev(self) -> tuple[int, ...]:
        return tuple(self._columns()["prev"].tolist())

    @property
    def clock(self) -> int:
        return int(self._lib.cm_clock(self._mem))

    @classmethod
    def restore(
        cls,
        max_left_facts: int,
        max_active: int,
        left_facts: list[tuple[int, ...]],
        right_facts: list[tuple[int, ...]],
        ctx_left: list[int],
        ctx_right: list[int],
        ctx_count: list[int],
        ctx_zero: list[bool],
        ctx_last: list[int],
        clock: int,
        prev: tuple[int, ...],
    ) -> NativeContextMemory:
        """A memory from its columns (what ``cad_state.pack`` stores); bad columns raise ValueError."""
        n = len(ctx_left)
        if not len(ctx_right) == len(ctx_count) == len(ctx_zero) == len(ctx_last) == n:
            raise ValueError("context columns of different lengths")
        memory = cls(max_left_facts, max_active)
        lib, mem = memory._lib, memory._mem
        for facts in left_facts:
            row = np.array(facts, dtype=np.int64)
            _check(lib.cm_restore_left(mem, _address(row), len(row), n), f"restore of left {facts}")
        for facts in right_facts:
            sens, mask, _ = _sens(tuple(facts))  # ValueError past fact 63
            if sens != tuple(facts):
                raise ValueError(f"right facts must be sorted and unique, got {facts}")
            _check(lib.cm_restore_right(mem, mask), f"restore of right {facts}")
        for row_ in zip(ctx_left, ctx_right, ctx_count, ctx_zero, ctx_last, strict=True):
            lid, rid, count, zero, last = row_
            _check(lib.cm_restore_context(mem, lid, rid, count, int(zero), last), "restore of a context")
        state = np.array(prev, dtype=np.int64)
        _check(lib.cm_restore_state(mem, clock, _address(state), len(state)), "restore of prev")
        memory._size = n
        return memory

    @classmethod
    def from_body(cls, body: bytes) -> NativeContextMemory:
        """A memory from a version 2 snapshot body (``packed_body``), restored by C in one call.

        Why: a recovery restores every series' state, and the column-by-column restore cost
        milliseconds per full memory in ctypes calls. Corrupt bodies raise ValueError.
        """
        if len(body) < 24:
            raise ValueError("corrupt ContextDetector state (short header)")
        max_left, max_active = (int.from_bytes(body[i : i + 8], "little", signed=True) for i in (8, 16))
        memory = cls(max_left, max_active)
        try:
            memory._size = _check(memory._lib.cm_unpack(memory._mem, body, len(body)), "restore")
        except ValueError as exc:
            raise ValueError(f"corrupt ContextDetector state ({exc})") from None
        return memory

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickled as a CAD snapshot (``cad_state``): it restores in C, or on numpy where C is missing."""
        from forewarn.models.cad_state import pack, unpack  # late: cad_state imports this module

        return unpack, (pack(self),)


def native_fits(max_active: int) -> bool:
    """Whether ``new_memory`` gives the C memory for these limits (built, and the facts fit a word)."""
    return library() is not None and 0 <= max_active <= _MAX_FACTS - 12


def new_memory(max_left_facts: int, max_active: int) -> NativeContextMemory | ContextMemory:
    """The C memory when it is available and the limits fit it, else the numpy one."""
    if native_fits(max_active):
        return NativeContextMemory(max_left_facts, max_active)
    return ContextMemory(max_left_facts, max_active)


def restore_memory(
    max_left_facts: int, max_active: int, **columns: Any
) -> NativeContextMemory | ContextMemory:
    """A memory from its snapshot columns, in C when ``new_memory`` would give C."""
    if native_fits(max_active):
        return NativeContextMemory.restore(max_left_facts, max_active, **columns)
    return ContextMemory.restore(max_left_facts, max_active, **columns)


def python_hash(facts: tuple[int, ...]) -> int:
    """CPython's tuple hash as the C memory computes it (checked against ``hash`` in the tests)."""
    lib = library()
    if lib is None:
        raise RuntimeError("the C memory is not available")
    row = np.array(facts, dtype=np.int64)
    return int(lib.cm_hash(_address(row), len(row)))


__all__ = ["NEURON", "NativeContextMemory", "NativePlan", "build", "library", "new_memory"]
