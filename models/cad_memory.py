"""The context memory of CAD OSE: semi-contexts, contexts, and one step split into plan and commit.

Why a module of its own: the memory is the algorithm (what a context is, when it is selected, active
or a candidate), while ``ContextDetector`` in ``cad.py`` is the streaming wrapper around it
(quantisation, value range, rest period, snapshots). Keeping them apart lets the step be checked
against the reference behaviour without the wrapper's choices in the way.

Terms, after Smirnov's CAD OSE (the NAB 2016 winner, MIT-licensed reference in the NAB repository):

* A *fact* is an int: a value fact (bit position and bit of the quantised value) or a *neuron* fact
  (``NEURON + id`` of a context that was active on the previous step).
* A *context* pairs a left semi-context (the facts of the previous step) with a right one (the value
  facts now). Semi-contexts are shared between contexts, which is what keeps the memory small.
* On each step the left semi-contexts crossed by the previous step's facts are walked: a context is
  *selected* when all its left facts held, *active* when its right facts hold now as well, and when
  the step's own (zero-level) context is new, the partial overlaps of zero-level contexts become
  *candidates* that are learned as new contexts.
* ``plan`` reads only; ``commit`` learns. ``plan`` followed by ``commit`` is exactly one step of the
  reference ``CAD_OSE.step`` (checked in ``tests/models/test_cad.py``).

Memory is capped: past ``max_contexts`` the least recently active half is forgotten (``prune``), with
every context whose left facts name a forgotten neuron, because it can never be selected again.

Why numpy: every value fact sits in most left semi-contexts, so walking them fact by fact in Python
cost ~1 ms a step on NAB. Here a semi-context's value facts (``0 <= fact < 64``) are bits of a mask,
its neurons a padded row of context ids (a 64-bit signature of both rules most rows out first),
the contexts are kept sorted in walk order, and a step is a few array operations over all of them;
what the left side selects is computed once per commit and shared by every plan until the next.
The walk's order (left semi-contexts by their first fact shared with the previous step, then by id;
contexts by id) is kept exactly, because it decides the ids of new contexts and ties in the ranking
of active ones: the pure-Python memory this replaced is kept in ``tests/models/cad_memory_python.py``
and ``tests/models/test_cad_memory.py`` checks the two agree plan by plan.

The detector runs on the C memory (``cad_native.c``) where a compiler is found; this one is the
fallback, and gives the same plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

NEURON = 1 << 31  # neuron facts are NEURON + context id; value facts are small ints
VALUE_FACTS = 64  # value facts are the bits of a uint64 mask: 0 <= fact < 64

Pair = tuple[tuple[int, ...], tuple[int, ...]]
IntArray = npt.NDArray[np.int64]
MaskArray = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]

_ALL = (1 << VALUE_FACTS) - 1
_LEFTS_CACHED = 16  # left sides kept per memory (a few KB each)
_PREFILTER = 128  # rank more active contexts than this by count first
_TABLE_FACTS = 12  # value facts below this are gathered by table (4096 entries at most)
_KEY_BITS = 62  # a candidate key holds a bit per fact of prev and of the step (``_plan_candidates``)
_EMPTY: IntArray = np.zeros(0, dtype=np.int64)


def _empty_ids() -> IntArray:
    return _EMPTY


@dataclass(slots=True)
class Plan:
    """What one step would do, computed without changing the memory."""

    sens: tuple[int, ...]
    zero: Pair | None  # the step's zero-level context: (previous facts, value facts now)
    zero_id: int | None  # its id when it is already known
    active_ids: IntArray = field(default_factory=_empty_ids)  # contexts whose prediction came true
    selected: int = 0  # contexts whose left side held
    new: list[Pair] = field(default_factory=list)  # the candidates not yet known, once each, in order
    version: int = 0  # the memory's version the plan was made on
    raw: float = 0.0  # (1 - active/selected + new/unique candidates) / 2
    next_left: tuple[int, ...] = ()  # facts the next step's contexts start from
    next_parts: tuple[int, list[int]] = (0, [])  # next_left as a value mask and neuron ids
    # the candidates as keys over (prev, sens) positions (``_key_pair``), turned into pairs on demand
    candidate_keys: IntArray = field(default_factory=_empty_ids)
    listed: list[Pair] | None = None
    ranked: dict[int, tuple[list[int], int]] | None = None  # where commit keeps the ranking (``_Left``)

    @property
    def active(self) -> list[int]:
        """The active context ids in walk order, as a list (what the pure-Python memory returned)."""
        return self.active_ids.tolist()  # type: ignore[no-any-return]

    @property
    def candidates(self) -> list[Pair]:
        """Partial overlaps to learn, in walk order (built from the keys only when asked for).

        Why lazy: a step needs only how many are unique and which are new, so building a pair of
        tuples per candidate (a hundred a step on noisy series) was most of CAD's online cost.
        """
        if self.listed is None:
            prev = self.zero[0] if self.zero is not None else ()
            self.listed = [_key_pair(key, prev, self.sens) for key in self.candidate_keys.tolist()]
        return self.listed


@dataclass(slots=True)
class _Left:
    """What the previous step's facts select in the memory, shared by every plan that starts there.

    Why cached: it depends on ``prev`` and the memory's structure only, not on the value or the use
    counts, so it serves every value ``score_one``/``explain_one`` plan and, until a context is
    learned, every later step whose ``prev`` recurs (``ContextMemory._lefts``).
    """

    value_mask: int  # value facts of ``prev``
    full: BoolArray  # left semi-context id -> all its facts are in ``prev``
    selected: IntArray  # selected context ids in walk order
    selected_right: MaskArray  # their right masks
    prev_lid: int | None  # the left semi-context that is ``prev`` itself, if known
    active: dict[int, IntArray] = field(default_factory=dict)  # value mask -> active contexts
    # value mask -> the top-ranked active contexts as last committed, and the clock of that commit
    ranked: dict[int, tuple[list[int], int]] = field(default_factory=dict)


class _Column:
    """A growable 1-d array: appended to in batches, read as ``view``."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: type[np.generic], capacity: int = 64) -> None:
        self.data: npt.NDArray[Any] = np.zeros(capacity, dtype=dtype)
        self.size = 0

    def extend(self, values: Any) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            data = np.zeros(max(end, 2 * len(self.data)), dtype=self.data.dtype)
            data[: self.size] = self.data[: self.size]
            self.data = data
        self.data[self.size : end] = values
        self.size = end

    @property
    def view(self) -> npt.NDArray[Any]:
        return self.data[: self.size]


@lru_cache(maxsize=4096)
def _mask_facts(mask: int) -> tuple[int, ...]:
    """The value facts of a mask, ascending."""
    return tuple(f for f in range(VALUE_FACTS) if mask >> f & 1)


@lru_cache(maxsize=4096)
def _sens(value_facts: tuple[int, ...]) -> tuple[tuple[int, ...], int, np.uint64]:
    """A step's value facts sorted and unique, their mask, and the mask of every other value fact."""
    sens = tuple(sorted(set(value_facts)))
    mask = 0
    for f in sens:
        mask |= _bit(f)
    return sens, mask, np.uint64(_ALL ^ mask)


class ContextMemory:
    """Semi-contexts and contexts with the indexes a step needs; see the module docstring."""

    def __init__(self, max_left_facts: int = 7, max_active: int = 15) -> None:
        self.max_left_facts = max_left_facts
        self.max_active = max_active
        self.clock = 0
        self.prev: tuple[int, ...] = ()  # facts of the previous step (value facts + neurons), sorted
        self._reset()

    def _reset(self) -> None:
        self.left_facts: list[tuple[int, ...]] = []  # left semi-context id -> facts
        self.right_facts: list[tuple[int, ...]] = []  # right semi-context id -> facts
        self._left_id: dict[tuple[int, ...], int] = {}
        self._right_id: dict[tuple[int, ...], int] = {}
        self._pair_id: dict[tuple[int, int], int] = {}  # (left id, right id) -> context id
        self._left_hash: list[int] = []  # left id -> hash of its facts (ranking ties)
        self._right_hash: list[int] = []
        self._right_mask: list[int] = []  # right id -> value mask
        # left semi-contexts: value mask, walk order key (first fact, id), and the context ids of
        # their neuron facts as rows padded with -1 (at most ``max_active`` wide in practice)
        self._l_mask = _Column(np.uint64)
        # signature: bit (fact % 32) of each value fact, bit (32 + id % 32) of each neuron fact
        self._l_sign = _Column(np.uint64)
        self._wide_values = False  # a value fact >= 32 in a left semi-context: the signature is inexact
        self._l_key = _Column(np.int64)
        self._l_neurons: IntArray = np.full((64, 0), -1, dtype=np.int64)
        # contexts
        self._c_left = _Column(np.int64)
        self._c_right = _Column(np.int64)
        self._c_mask = _Column(np.uint64)  # value mask of the right semi-context
        self._c_zero = _Column(np.bool_)  # ever the zero-level context of a step
        self._c_count = _Column(np.int64)  # times the context was active
        self._c_last = _Column(np.int64)  # clock of its creation or last activation
        self._c_hash_left = _Column(np.int64)
        self._c_hash_right = _Column(np.int64)
        # context ids in walk order (left semi-context key, then id), with their keys and left ids
        self._walk: IntArray = _EMPTY
        self._walk_key: IntArray = _EMPTY
        self._walk_left: IntArray = _EMPTY
        self._n = 0  # contexts in the arrays
        self._neuron_span = 0  # 1 + the largest context id a left semi-context names
        # rows learned by the current commit, written to the arrays at its end
        self._new_lefts: list[tuple[int, int, int, list[int]]] = []
        self._new_contexts: list[tuple[int, int, int, bool, int, int, int]] = []
        self._left: _Left | None = None
        # left sides of recent ``prev``s while no context is learned: a step whose zero-level context
        # is known has met its ``prev`` before, and on NAB ~86 % of the steps find it here
        self._lefts: dict[tuple[int, ...], _Left] = {}
        self._prev_parts: tuple[tuple[int, ...], int, list[int]] | None = None
        self._version = getattr(self, "_version", 0) + 1  # plans remember it: see ``commit``

    # -- learning semi-contexts and contexts ----------------------------------------------------
    def _new_left(self, left: tuple[int, ...]) -> int:
        lid = len(self.left_facts)
        self.left_facts.append(left)
        self._left_id[left] = lid
        self._left_hash.append(hash(left))
        mask, neurons = _split_facts(left)  # value facts were checked by ``_sens`` or ``_load``
        sign = _signature(mask, neurons)
        self._wide_values = self._wide_values or mask >= 1 << 32
        if neurons:
            self._neuron_span = max(self._neuron_span, max(neurons) + 1)
        # the walk meets a fully held left semi-context at its smallest fact (``prev`` is sorted):
        # value facts first, then neurons by id; ties by id
        first = min(left)
        first = first if first < NEURON else VALUE_FACTS + first - NEURON
        self._new_lefts.append((mask, sign, first << 32 | lid, neurons))
        return lid

    def _new_right(self, right: tuple[int, ...]) -> int:
        rid = len(self.right_facts)
        self.right_facts.append(right)
        self._right_id[right] = rid
        self._right_hash.append(hash(right))
        mask = 0
        for f in right:
            mask |= 1 << f
        self._right_mask.append(mask)
        return rid

    def _add(self, pair: Pair, zero: bool) -> int:
        left, right = pair
        lid = self._left_id.get(left)
        if lid is None:
            lid = self._new_left(left)
        rid = self._right_id.get(right)
        if rid is None:
            rid = self._new_right(right)
        cid = self._n + len(self._new_contexts)
        self._pair_id[lid, rid] = cid
        self._new_contexts.append(
            (lid, rid, self._right_mask[rid], zero, self.clock, self._left_hash[lid], self._right_hash[rid])
        )
        return cid

    def _flush(self) -> None:
        """Write the rows learned since the last flush to the arrays (one slice per column)."""
        if self._new_lefts:
            first = self._l_mask.size
            masks, signs, keys, neuron_lists = zip(*self._new_lefts, strict=True)
            self._l_mask.extend(masks)
            self._l_sign.extend(signs)
            self._l_key.extend(keys)
            rows, width = self._l_neurons.shape
            wide = max(width, *(len(ids) for ids in neuron_lists))
            if self._l_mask.size > rows or wide > width:
                grown = np.full((max(rows, 2 * self._l_mask.size), wide), -1, dtype=np.int64)
                grown[:rows, :width] = self._l_neurons
                self._l_neurons = grown
            for lid, ids in enumerate(neuron_lists, first):
                if ids:
                    self._l_neurons[lid, : len(ids)] = ids
            self._new_lefts = []
        if self._new_contexts:
            lids, rids, masks, zeros, lasts, left_hashes, right_hashes = zip(*self._new_contexts, strict=True)
            # into the walk order: after the contexts of the same left semi-context (smaller ids)
            new_ids = np.arange(self._n, self._n + len(lids), dtype=np.int64)
            new_lefts = np.array(lids, dtype=np.int64)
            new_keys = self._l_key.data[new_lefts]
            order = np.argsort(new_keys, kind="stable")
            at = np.searchsorted(self._walk_key, new_keys[order], side="right")
            at += np.arange(len(at))  # positions in the merged walk
            old = np.ones(len(self._walk) + len(at), dtype=np.bool_)
            old[at] = False
            for name, new in (("_walk", new_ids), ("_walk_key", new_keys), ("_walk_left", new_lefts)):
                merged = np.empty(len(old), dtype=np.int64)
                merged[old] = getattr(self, name)
                merged[at] = new[order]
                setattr(self, name, merged)
            self._c_left.extend(lids)
            self._c_right.extend(rids)
            self._c_mask.extend(masks)
            self._c_zero.extend(zeros)
            self._c_count.extend([0] * len(lids))
            self._c_last.extend(lasts)
            self._c_hash_left.extend(left_hashes)
            self._c_hash_right.extend(right_hashes)
            self._n += len(lids)
            self._new_contexts = []
            self._lefts = {}
        self._left = None

    def _load(
        self,
        left_facts: list[tuple[int, ...]],
        right_facts: list[tuple[int, ...]],
        ctx_left: list[int],
        ctx_right: list[int],
        ctx_count: list[int],
        ctx_zero: list[bool],
        ctx_last: list[int],
    ) -> None:
        """Replace the memory by these columns, checked, with every index rebuilt in bulk."""
        n = len(ctx_left)
        if not len(ctx_right) == len(ctx_count) == len(ctx_zero) == len(ctx_last) == n:
            raise ValueError("context columns of different lengths")
        self._reset()
        for facts in (*left_facts, *right_facts):
            for f in facts:
                if f < NEURON:
                    _bit(f)
        for left in left_facts:
            self._new_left(left)
        for right in right_facts:
            self._new_right(right)
        if len(self._left_id) != len(left_facts) or len(self._right_id) != len(right_facts):
            raise ValueError("a semi-context is stored twice")
        self._flush()
        lids = np.array(ctx_left, dtype=np.int64)
        rids = np.array(ctx_right, dtype=np.int64)
        if n and not (0 <= lids.min() <= lids.max() < len(left_facts)):
            raise ValueError("a context names an unknown left semi-context")
        if n and not (0 <= rids.min() <= rids.max() < len(right_facts)):
            raise ValueError("a context names an unknown right semi-context")
        self._pair_id = dict(zip(zip(ctx_left, ctx_right, strict=True), range(n), strict=True))
        if len(self._pair_id) != n:
            raise ValueError("a context is stored twice")
        self._c_left.extend(lids)
        self._c_right.extend(rids)
        self._c_mask.extend(np.array(self._right_mask, dtype=np.uint64)[rids] if n else [])
        self._c_zero.extend(ctx_zero)
        self._c_count.extend(ctx_count)
        self._c_last.extend(ctx_last)
        self._c_hash_left.extend(np.array(self._left_hash, dtype=np.int64)[lids] if n else [])
        self._c_hash_right.extend(np.array(self._right_hash, dtype=np.int64)[rids] if n else [])
        keys = self._l_key.data[lids]
        self._walk = np.lexsort((np.arange(n), keys)).astype(np.int64)
        self._walk_key = keys[self._walk]
        self._walk_left = lids[self._walk]
        self._n = n

    # -- the columns a snapshot stores (lists, as the pure-Python memory kept them) ---------------
    @property
    def ctx_left(self) -> list[int]:
        return self._c_left.view.tolist()  # type: ignore[no-any-return]

    @property
    def ctx_right(self) -> list[int]:
        return self._c_right.view.tolist()  # type: ignore[no-any-return]

    @property
    def ctx_count(self) -> list[int]:
        return self._c_count.view.tolist()  # type: ignore[no-any-return]

    @property
    def ctx_zero(self) -> list[bool]:
        return self._c_zero.view.tolist()  # type: ignore[no-any-return]

    @property
    def ctx_last(self) -> list[int]:
        return self._c_last.view.tolist()  # type: ignore[no-any-return]

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
    ) -> ContextMemory:
        """A memory from its columns (what a snapshot stores), with every index rebuilt.

        Why: the indexes are derived, so snapshots (``cad_state.pack``) and pickles store only the columns,
        in the format the pure-Python memory had; this turns them back into a working memory.
        """
        memory = cls(max_left_facts, max_active)
        memory._load(left_facts, right_facts, ctx_left, ctx_right, ctx_count, ctx_zero, ctx_last)
        memory.clock = clock
        memory.prev = tuple(prev)
        for f in memory.prev:
            if f < NEURON:
                _bit(f)
        return memory

    def __getstate__(self) -> dict[str, Any]:
        return {
            "limits": (self.max_left_facts, self.max_active),
            "columns": (
                self.left_facts,
                self.right_facts,
                self.ctx_left,
                self.ctx_right,
                self.ctx_count,
                self.ctx_zero,
                self.ctx_last,
            ),
            "clock": self.clock,
            "prev": self.prev,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.max_left_facts, self.max_active = state["limits"]
        self._load(*state["columns"])
        self.clock = state["clock"]
        self.prev = state["prev"]

    def __len__(self) -> int:
        return self._n + len(self._new_contexts)

    def find(self, pair: Pair) -> int | None:
        lid = self._left_id.get(pair[0])
        if lid is None:
            return None
        rid = self._right_id.get(pair[1])
        if rid is None:
            return None
        return self._pair_id.get((lid, rid))

    # -- one step --------------------------------------------------------------------------------
    def _left_side(self) -> _Left:
        """Which contexts the previous step's facts select, in the reference walk order."""
        if self._left is not None:
            return self._left
        prev, nl = self.prev, len(self.left_facts)
        cached = self._lefts.pop(prev, None)
        if cached is not None:
            self._lefts[prev] = cached  # most recently used last
            self._left = cached
            return cached
        parts = self._prev_parts
        if parts is not None and parts[0] is prev:  # as the last commit planned it
            value_mask, neurons = parts[1], parts[2]
        else:
            value_mask, neurons = _split_facts(prev)  # value facts checked by ``_sens`` or ``restore``
        # prev's neurons as a lookup table; the last slot answers True for the rows' -1 padding
        in_prev = np.zeros(max(self._neuron_span, *neurons, -1) + 2, dtype=np.bool_)
        in_prev[[*neurons, -1]] = True
        selected = _EMPTY
        full: BoolArray = np.zeros(nl, dtype=np.bool_)
        if prev and nl:
            # a left semi-context is fully held when its value facts are among prev's and its neurons
            # are; the signatures rule out most of the others before the exact checks
            sign = np.uint64(_ALL ^ _signature(value_mask, neurons))
            value_held = np.flatnonzero((self._l_sign.view & sign) == 0)
            if self._wide_values or value_mask >= 1 << 32:  # folded bits: check exactly
                outside = np.uint64(_ALL ^ value_mask)
                value_held = value_held[(self._l_mask.data.take(value_held) & outside) == 0]
            if self._l_neurons.shape[1] and value_held.size:
                value_held = value_held[in_prev.take(self._l_neurons.take(value_held, axis=0)).all(axis=1)]
            full[value_held] = True
            selected = self._walk[full[self._walk_left]]
        self._left = _Left(
            value_mask=value_mask,
            full=full,
            selected=selected,
            selected_right=self._c_mask.data[selected],
            prev_lid=self._left_id.get(prev),
        )
        self._lefts[prev] = self._left
        if len(self._lefts) > _LEFTS_CACHED:
            del self._lefts[next(iter(self._lefts))]
        return self._left

    def plan(self, value_facts: tuple[int, ...]) -> Plan:
        """Score the step for ``value_facts`` against the memory, without learning."""
        sens, sens_mask, outside = _sens(tuple(value_facts))
        left = self._left_side()
        zero: Pair | None = (self.prev, sens) if self.prev and sens else None
        zero_id: int | None = None
        if zero is not None and left.prev_lid is not None:
            rid = self._right_id.get(sens)
            if rid is not None:
                zero_id = self._pair_id.get((left.prev_lid, rid))
        new_zero = zero is not None and zero_id is None
        active = left.active.get(sens_mask)  # which contexts a value makes active is structural too
        if active is None:
            active = left.active[sens_mask] = left.selected[(left.selected_right & outside) == 0]
        plan = Plan(sens=sens, zero=zero, zero_id=zero_id, active_ids=active, selected=len(left.selected))
        new_share = 0.0
        if new_zero and len(self.prev) + len(sens) <= _KEY_BITS:
            new_share = self._plan_candidates(plan, left, sens_mask, outside)
        elif new_zero:  # too many facts for a key: pairs of tuples, as the pure-Python memory
            plan.listed = self._candidates(left, sens_mask, outside)
            unique = dict.fromkeys(plan.listed)  # a set that keeps the first-seen order
            plan.new = [c for c in unique if c != zero and self.find(c) is None]
            unique[zero] = None  # type: ignore[index]
            new_share = (len(plan.new) + 1) / len(unique)
        plan.version = self._version
        hit_share = len(active) / plan.selected if plan.selected else 0.0
        plan.raw = (1.0 - hit_share + new_share) / 2.0
        ranked = left.ranked.get(sens_mask)
        if ranked is not None and ranked[1] == self._c_last.data.take(active).max():
            # none of them active since that commit, which raised all their counts by one: same top
            neurons = ranked[0]
        else:
            neurons = self._neurons(active)
        if len(active) > self.max_active:  # cheaper to rank again than to check
            plan.ranked = left.ranked
        plan.next_left = sens + tuple(map(NEURON.__add__, neurons))  # value facts < NEURON: in order
        plan.next_parts = (sens_mask, neurons)
        return plan

    def _neurons(self, active: IntArray) -> list[int]:
        """The ``max_active`` top-ranked active contexts (use count, then hashes), ascending.

        Exactly the reference's stable sort's last ``max_active``: only contexts whose count reaches
        the ``max_active``-th largest can be among them, and ``np.lexsort`` is stable like ``sorted``.
        """
        k = self.max_active
        if not k or not len(active):
            return []
        if len(active) <= k:
            return sorted(active.tolist())
        top, counts = active, self._c_count.data.take(active)
        if len(active) > _PREFILTER:  # a few array calls to drop the many that cannot make it
            floor = np.partition(counts, len(active) - k)[len(active) - k]
            keep = counts >= floor
            top, counts = active[keep], counts[keep]
        if len(top) > k:
            hashes = self._c_hash_right.data.take(top), self._c_hash_left.data.take(top)
            top = top.take(np.lexsort((*hashes, counts))[-k:])
        return sorted(top.tolist())

    def _subset_keys(self, lids: IntArray) -> IntArray:
        """Which of ``prev``'s facts each left semi-context has, as bits over ``prev``'s positions.

        Why: a candidate's left side is a subset of ``prev`` and its right side a subset of the step's
        value facts, so a candidate is two small bit sets, one int64, and the walk's order, the
        dedup and the lookup of known contexts become array operations instead of tuples per row.
        """
        prev = self.prev
        keys = np.zeros(len(lids), dtype=np.int64)
        values = self._l_mask.data.take(lids)
        neurons: list[int] = []
        bits: list[int] = []
        value_at: list[tuple[int, int]] = []
        for i, f in enumerate(prev):
            if f >= NEURON:
                neurons.append(f - NEURON)
                bits.append(1 << i)
            else:
                value_at.append((i, f))
        if value_at:
            keys |= _gather(values, tuple(value_at))
        if neurons and self._l_neurons.shape[1]:
            # neuron id -> its bit; the last slot answers 0 for the rows' -1 padding
            table = np.zeros(max(self._neuron_span, *neurons) + 2, dtype=np.int64)
            table[neurons] = bits
            keys |= table.take(self._l_neurons.take(lids, axis=0)).sum(axis=1)  # distinct bits
        return keys

    def _plan_candidates(self, plan: Plan, left: _Left, sens_mask: int, outside: np.uint64) -> float:
        """The candidates of a step with a new zero-level context as keys; the plan's ``new`` share.

        The same as ``_candidates`` then dedup and ``find`` (the pure-Python memory's way): a known
        candidate's left side is within ``prev`` and its right within the value facts, so the known
        ones are exactly the active contexts, and keys compare them without building pairs.
        """
        prev, sens = self.prev, plan.sens
        width = len(sens)
        hit, lids, right = self._partial_overlaps(left, sens_mask, outside)
        shared = self._subset_keys(lids)
        count = np.bitwise_count(shared)
        learnable = (count > 0) & (count <= self.max_left_facts)  # crossed, and short enough to learn
        hit, lids, right, shared = hit[learnable], lids[learnable], right[learnable], shared[learnable]
        # walk order: first fact shared with prev (its lowest bit), left id, context id
        order = np.lexsort((hit, lids, shared & -shared))
        keys = shared.take(order) << width | _right_keys(right.take(order), sens)
        plan.candidate_keys = keys
        unique = dict.fromkeys(keys.tolist())  # a set that keeps the first-seen order (ints: cheap)
        active = plan.active_ids
        known = self._subset_keys(self._c_left.data.take(active)) << width | _right_keys(
            self._c_mask.data.take(active), sens
        )
        zero_key = ((1 << len(prev)) - 1) << width | ((1 << width) - 1)
        unique.pop(zero_key, None)  # counted once below, never new
        known_keys = set(known.tolist())
        plan.new = [_key_pair(key, prev, sens) for key in unique if key not in known_keys]
        return (len(plan.new) + 1) / (len(unique) + 1)

    def _partial_overlaps(
        self, left: _Left, sens_mask: int, outside: np.uint64
    ) -> tuple[IntArray, IntArray, MaskArray]:
        """Zero-level contexts sharing a value fact with the step but not active: ids, left ids, masks."""
        masks = self._c_mask.view
        hit = np.flatnonzero(self._c_zero.view & ((masks & np.uint64(sens_mask)) != 0))
        lids = self._c_left.data[hit]
        right = masks[hit]
        partial = ~(left.full[lids] & ((right & outside) == 0))  # the others came true: active
        return hit[partial], lids[partial], right[partial]

    def _candidates(self, left: _Left, sens_mask: int, outside: np.uint64) -> list[Pair]:
        """Partial overlaps of zero-level contexts with this step, in the reference walk order.

        The walk visits left semi-contexts by the first fact they share with ``prev``, then by id, and
        a semi-context's contexts by id; the order decides the ids the candidates are learned under.
        """
        hit, lids, right = self._partial_overlaps(left, sens_mask, outside)
        shared_value = (self._l_mask.data[lids] & np.uint64(left.value_mask)).tolist()
        order = {f: i for i, f in enumerate(self.prev)}
        prev_neurons = {f for f in self.prev if f >= NEURON}
        shared_of: dict[int, tuple[int, ...] | None] = {}
        out: list[tuple[int, int, int, Pair]] = []
        left_facts, max_left, common = self.left_facts, self.max_left_facts, prev_neurons.intersection
        for cid, lid, mask, value in zip(
            hit.tolist(), lids.tolist(), right.tolist(), shared_value, strict=True
        ):
            shared = shared_of.get(lid, ())
            if shared == ():
                neurons = common(left_facts[lid])
                shared = None  # not crossed, or too long to learn from
                if 0 < value.bit_count() + len(neurons) <= max_left:
                    shared = _mask_facts(value) + tuple(sorted(neurons))
                shared_of[lid] = shared
            if shared is not None:
                out.append((order[shared[0]], lid, cid, (shared, _mask_facts(mask & sens_mask))))
        out.sort()  # (first shared fact, left id, context id) is unique: the pairs are never compared
        return [c[3] for c in out]

    def step(self, value_facts: tuple[int, ...]) -> float:
        """Plan and commit one step; its raw score."""
        plan = self.plan(value_facts)
        self.commit(plan)
        return plan.raw

    def commit(self, plan: Plan) -> None:
        """Learn the planned step: the zero-level context, the active counts, the candidates."""
        self.clock += 1
        if plan.zero is not None:
            if plan.zero_id is None:
                self._add(plan.zero, zero=True)
            else:
                self._c_zero.data[plan.zero_id] = True
        active = plan.active_ids
        if len(active):
            self._c_count.data[active] += 1
            self._c_last.data[active] = self.clock
            if plan.ranked is not None and plan.version == self._version:
                plan.ranked[plan.next_parts[0]] = (plan.next_parts[1], self.clock)
        if plan.version == self._version:
            for pair in plan.new:  # unknown when planned, so unknown now (the zero pair is not among them)
                self._add(pair, zero=False)
        else:  # planned on another state: look the candidates up again, as the reference does
            for pair in plan.candidates:
                if self.find(pair) is None:
                    self._add(pair, zero=False)
        self._flush()
        self.prev = plan.next_left
        self._prev_parts = (self.prev, *plan.next_parts)
        self._left = None
        self._version += 1

    # -- forgetting ---------------------------------------------------------------------------
    def prune(self, keep: int) -> None:
        """Keep the ``keep`` most recently active contexts (ties: most used), renumbered in order.

        Why recency: on NAB, forgetting by recency lost less than forgetting by use count (a context
        learned in last month's regime is the least likely to fire again). Contexts whose left facts
        name a forgotten neuron go too: they can never be selected again. Semi-contexts are renumbered
        in the order the kept contexts first use them, as re-adding the kept contexts one by one did.
        """
        n = self._n
        last, count = self._c_last.view, self._c_count.view
        # sorted(..., reverse=True) keeps equal keys in id order: sort by (-last, -count, id)
        kept = np.sort(np.lexsort((np.arange(n), -count, -last))[:keep]).tolist()
        old_lefts, old_rights, old_prev = self.left_facts, self.right_facts, self.prev
        old_left, old_right = self._c_left.view.tolist(), self._c_right.view.tolist()
        remap: dict[int, int] = {}  # old context id -> new
        left_map: dict[int, int] = {}  # old left id -> new (only once it survived)
        right_map: dict[int, int] = {}
        lefts: list[tuple[int, ...]] = []
        rights: list[tuple[int, ...]] = []
        survivors: list[int] = []
        ctx_left: list[int] = []
        ctx_right: list[int] = []
        for cid in kept:
            lid = left_map.get(old_left[cid])
            if lid is None:
                left = _renumber(old_lefts[old_left[cid]], remap)
                if left is None:
                    continue
                lid = left_map[old_left[cid]] = len(lefts)
                lefts.append(left)
            rid = right_map.get(old_right[cid])
            if rid is None:
                rid = right_map[old_right[cid]] = len(rights)
                rights.append(old_rights[old_right[cid]])
            remap[cid] = len(survivors)
            survivors.append(cid)
            ctx_left.append(lid)
            ctx_right.append(rid)
        rows = np.array(survivors, dtype=np.int64)
        self._load(
            lefts,
            rights,
            ctx_left,
            ctx_right,
            count[rows].tolist(),
            self._c_zero.view[rows].tolist(),
            last[rows].tolist(),
        )
        prev = [f for f in old_prev if f < NEURON or f - NEURON in remap]
        self.prev = tuple(sorted(f if f < NEURON else NEURON + remap[f - NEURON] for f in prev))
        self._left = None


def _split_facts(facts: tuple[int, ...]) -> tuple[int, list[int]]:
    """Facts as a value mask and the context ids of their neurons (in the facts' order)."""
    mask, neurons = 0, []
    for f in facts:
        if f >= NEURON:
            neurons.append(f - NEURON)
        else:
            mask |= 1 << f
    return mask, neurons


def _signature(value_mask: int, neurons: list[int]) -> int:
    """Value facts folded onto bits 0-31, neuron ids onto bits 32-63: a subset test that may pass wrongly."""
    sign = (value_mask | value_mask >> 32) & 0xFFFF_FFFF
    for c in neurons:
        sign |= 1 << (32 + c % 32)
    return sign


def _bit(fact: int) -> int:
    """The mask bit of a value fact; value facts must be in [0, 64)."""
    if not 0 <= fact < VALUE_FACTS:
        raise ValueError(f"value facts must be in [0, {VALUE_FACTS}), got {fact}")
    return 1 << fact


def _renumber(facts: tuple[int, ...], remap: dict[int, int]) -> tuple[int, ...] | None:
    """Left facts with neuron ids renumbered; None when one names a forgotten context."""
    out = []
    for f in facts:
        if f >= NEURON:
            new = remap.get(f - NEURON)
            if new is None:
                return None
            out.append(NEURON + new)
        else:
            out.append(f)
    return tuple(sorted(out))


def _right_keys(masks: MaskArray, sens: tuple[int, ...]) -> IntArray:
    """Which of the step's value facts each right mask has, as bits over ``sens``'s positions."""
    return _gather(masks, tuple(enumerate(sens)))


def _gather(masks: MaskArray, value_at: tuple[tuple[int, int], ...]) -> IntArray:
    """Bit ``i`` set where the mask has fact ``f``, for each ``(i, f)``: a table lookup when small."""
    table = _gather_table(value_at)
    if table is not None:
        return table.take((masks & np.uint64(table.size - 1)).astype(np.intp))
    keys = np.zeros(len(masks), dtype=np.int64)
    for i, f in value_at:
        keys |= ((masks >> np.uint64(f)) & np.uint64(1)).astype(np.int64) << i
    return keys


@lru_cache(maxsize=256)
def _gather_table(value_at: tuple[tuple[int, int], ...]) -> IntArray | None:
    """``_gather``'s answer for every mask of facts below ``_TABLE_FACTS`` (None past them).

    Why: CAD's value facts are few and small (``2 * value_bits + 2``), so one ``take`` replaces a
    shift-and-mask round per fact; tables are a few KB, cached per fact set (a handful per series).
    """
    top = max(f for _, f in value_at)
    if top >= _TABLE_FACTS:
        return None
    masks = np.arange(1 << (top + 1), dtype=np.int64)
    keys = np.zeros(len(masks), dtype=np.int64)
    for i, f in value_at:
        keys |= (masks >> f & 1) << i
    return keys


def _key_pair(key: int, prev: tuple[int, ...], sens: tuple[int, ...]) -> Pair:
    """The candidate a key stands for: (the facts of ``prev`` it has, the value facts it has)."""
    width = len(sens)
    shared = key >> width
    return (
        tuple(f for i, f in enumerate(prev) if shared >> i & 1),
        tuple(f for i, f in enumerate(sens) if key >> i & 1),
    )
