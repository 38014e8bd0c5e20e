"""Contextual anomaly detection (CAD OSE, the NAB 2016 winner) as a streaming forewarn detector.

Why this detector: it is the one forewarn model that sees *sequences*. ``LikelihoodDetector`` asks how
far a value is from normal; CAD learns which coarse value patterns follow which and scores how badly
its learned contexts predicted the present, so a flat-lined gauge, a broken rhythm or a level that is
normal at night but not after this afternoon's pattern all stand out. On NAB it is the strongest
detector we have (``bench/README.md``).

The algorithm is the reference one (``cad_memory.py``), checked to reproduce the published NAB score
of CAD OSE (70.0 standard with this project's scorer, 69.9 published). What this wrapper adds:

* **Quantisation.** A value is mapped to ``value_bits`` bits over the value range (each bit position
  with its bit is one fact). A value above or below the range is one fact of its own, so it is never
  half-predicted by contexts of in-range bins and the number of facts stays bounded (the reference
  lets the bit count grow with the excursion).
* **Gray code** (``gray_code``, on by default). The reference numbers bins in plain binary, so
  neighbouring bins share 2, 1 or 0 of their 3 facts depending on where they sit (3 and 4 share
  none): noise across the middle of the range looked entirely new, and the same gauge measured the
  other way up (free memory instead of used) scored differently, by 3 to 5 NAB points. In a Gray
  code every pair of neighbours shares all but one fact, wherever the data sit. ``apply_priors``
  (the NAB protocol, the reference wrapper's setting) switches back to plain binary, which is what
  reproduces the published score.
* **Value range.** CAD depends on it: with the range of the whole series known up front (the NAB
  protocol gives every detector the file's min and max, and so does the published CAD OSE score),
  ordinary noise falls into one or two bins and only real moves make new contexts. Give it with
  ``value_range`` when the gauge has known bounds (percentages, pool sizes) or call
  ``apply_priors`` (``forewarn bench nab`` does, as NAB does). Without it the range is learned
  online: min/max of the first ``warmup`` values widened by ``initial_headroom`` spans on each side
  (a hundred values rarely show a gauge's whole range: a daily trough would otherwise alarm), then
  widened again (``range_growth`` spans past the new extreme) when values fall outside, with the
  memory relearned from the last ``replay`` values in the new bins. Both are measured in
  ``bench/README.md``; the online range scores lower.
* **A lone spike does not resize the bins** (``range_trim``). A value less than the range's own
  width past it widens the range at once (most often a cycle wider than the warm-up showed). One
  further out is a spike or a shift, and widens it only once more than k such values (k =
  ``range_trim`` of the ``replay`` window) have come since the bins were last set: a range that grew
  to take in a spike 20 spans high left every ordinary value in one bin, and the detector blind for
  the rest of the series. The spike stays a value beyond the range, a fact of its own. Counted since
  the bins were set, not within the replay window, so a spike that recurs (a nightly job, once in
  288 values at 5 minutes) widens them by its fourth night and becomes a pattern CAD learns, where
  a count within the window never reached k + 1 and it alarmed every night. A far shift that held
  widened the range over both levels; once the last ``replay`` values all come from after it, the
  range is fitted to them as at warm-up (the old level is history, and bins over both left the new
  one in two or three).
* **Beyond the range is new evidence only the first time.** A value beyond the bins skips the rest
  period only when it is also beyond every value seen so far; a value the series has already reached
  (a spike that kept the bins) waits for the rest period like any other.
* **Rest period.** After a raw score >= ``base_threshold`` the detector reports 0 for ``rest_period``
  events (one alert per incident), as the reference, except for a value beyond the range, which is
  new evidence (with the NAB priors no value is beyond the range, so this never fires there).
  ``apply_priors`` sets it from the NAB probationary length as the reference wrapper does (a fifth).
* **Spatial anomaly.** A value beyond every value learned so far by more than ``spatial_tolerance``
  of the span seen scores 1.0 at once, as in Numenta's HTM detector for NAB (same rule, same 5 %
  tolerance, ``nab/detectors/numenta/numenta_detector.py``). Why: CAD's bins come from the value
  range, so a new record inside a wide given range is just another bin, and a first excursion only
  scores when contexts have learned against it; a gauge breaking its record is what an SRE wants to
  hear about first. It ignores the rest period (new evidence, like a value beyond the range).
  With the range learned online it is armed after ``warmup`` values, and an extreme must have held
  for ``warmup`` values before breaking it counts: a young or slowly climbing gauge sets a new
  extreme almost every step (a record every hour of its first daily cycle), while a jump past a
  level that held is the excursion the rule is for. ``online_record=False`` keeps it off online
  (``likelihood_cad`` does: its likelihood part already scores such a value); ``None`` turns it off
  everywhere (the reference CAD OSE).
* **Bounded memory.** Past ``max_contexts`` the least recently active half of the contexts is
  forgotten, and the pickled state is packed and compressed (``cad_state.py``): at most 20 KB per
  series on NAB.

``score_one`` only reads; ``learn_one`` commits the same step (the plan is cached between them);
``score_learn_one`` does both with one plan.
"""

from __future__ import annotations

import array
import heapq
import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from river import stats

from forewarn.models.base import AnomalyScore, Snapshottable
from forewarn.models.cad_memory import NEURON, ContextMemory, Plan
from forewarn.models.cad_native import NativeContextMemory, NativePlan, new_memory
from forewarn.models.cad_state import pack, unpack
from forewarn.models.river_compat import RiverDetector

# The memory a detector gets: the C one where it builds, else numpy (``cad_native.new_memory``).
# A name of its own so tests and ``bench/cad_steps.py`` can run the detector over another memory.
memory_factory: Callable[[int, int], ContextMemory | NativeContextMemory] = new_memory


class ContextDetector(Snapshottable, RiverDetector):
    """CAD OSE detector; ``score_one`` is in [0, 1], higher is more anomalous."""

    def __init__(
        self,
        feature: str | None = None,
        value_bits: int = 3,
        max_left_facts: int = 7,
        max_active_neurons: int = 15,
        base_threshold: float = 0.75,
        rest_period: int = 150,
        max_contexts: int = 2000,
        value_range: tuple[float, float] | None = None,
        warmup: int = 100,
        replay: int = 300,
        range_growth: float = 0.25,
        initial_headroom: float = 1.0,
        refit_headroom: float = 0.5,
        range_trim: float = 0.01,
        spatial_tolerance: float | None = 0.05,
        online_record: bool = True,
        gray_code: bool = True,
    ) -> None:
        if not 1 <= value_bits <= 12:
            raise ValueError(f"value_bits must be in [1, 12], got {value_bits}")
        if not 10 <= max_contexts <= 50_000:
            raise ValueError(f"max_contexts must be in [10, 50000], got {max_contexts}")
        if (
            rest_period < 0
            or warmup < 1
            or replay < 1
            or range_growth < 0
            or min(initial_headroom, refit_headroom) < 0
        ):
            raise ValueError("rest_period >= 0, warmup >= 1, replay >= 1, growth and headrooms >= 0 required")
        if not 0.0 <= range_trim < 0.5:
            raise ValueError(f"range_trim must be in [0, 0.5), got {range_trim}")
        if spatial_tolerance is not None and not spatial_tolerance >= 0:
            raise ValueError(f"spatial_tolerance must be >= 0 or None, got {spatial_tolerance}")
        if value_range is not None and not value_range[0] <= value_range[1]:
            raise ValueError(f"value_range must be (low, high) with low <= high, got {value_range}")
        self.feature = feature
        self.value_bits = value_bits
        self.max_left_facts = max_left_facts
        self.max_active_neurons = max_active_neurons
        self.base_threshold = base_threshold
        self.rest_period = rest_period
        self.max_contexts = max_contexts
        self.value_range = value_range
        self.warmup = warmup
        self.replay = replay
        self.range_growth = range_growth
        self.initial_headroom = initial_headroom
        self.refit_headroom = refit_headroom
        self.range_trim = range_trim
        self.spatial_tolerance = spatial_tolerance
        self.online_record = online_record
        self.gray_code = gray_code
        # extremes of the values learned (spatial rule); river.stats updates them faster than min()/max()
        self.seen_min, self.seen_max = stats.Min(), stats.Max()
        self.low_at = self.high_at = 0  # values learned when each extreme last moved (online rule)
        self.n = 0  # values learned
        self.refit_at = 0  # values learned when a far shift widened the online range (0: none pending)
        self.refit_told = False  # the pending refit is for a new level another detector confirmed
        # values far past the online range since its bins were set, the k + 1 furthest each side
        # (min-heaps; below the range negated): a far value widens the range once k + 1 have come
        self.far_above: list[float] = []
        self.far_below: list[float] = []
        self.since_strong = 1  # steps since the last raw score >= base_threshold (reference: history [1.0])
        self.lo, self.hi = value_range if value_range is not None else (0.0, 0.0)
        self.ready = value_range is not None  # False while the online range is still warming up
        # last ``replay`` values (online range only), as float32 offsets from the first value learned:
        # half the bytes of float64, and a replay only needs each value's bin. Offsets, because a
        # float32 of the value itself rounds to 64 at a level of 10^9 (a byte counter, an epoch
        # timestamp), coarser than the bins of a series that moves by less.
        self.anchor = 0.0
        self.recent: array.array[float] = array.array("f")
        self.memory = memory_factory(max_left_facts, max_active_neurons)
        self._cache: tuple[float, Plan | NativePlan] | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(feature={self.feature!r}, value_bits={self.value_bits}, "
            f"base_threshold={self.base_threshold}, rest_period={self.rest_period}, "
            f"max_contexts={self.max_contexts}, value_range={self.value_range}, warmup={self.warmup}, "
            f"replay={self.replay}, range_growth={self.range_growth}, "
            f"initial_headroom={self.initial_headroom}, refit_headroom={self.refit_headroom}, "
            f"range_trim={self.range_trim}, "
            f"spatial_tolerance={self.spatial_tolerance}, "
            f"online_record={self.online_record}, gray_code={self.gray_code})"
        )

    def apply_priors(self, value_min: float, value_max: float, probation_rows: int) -> None:
        """The NAB protocol's per-file hints: the value range and the probationary length.

        Why offered: NAB hands every detector these (HTM, CAD OSE and ARTime all use them), so
        published scores assume them; the product uses ``value_range`` for gauges with known bounds.
        It also sets what the reference wrapper derives from them (the rest period, a fifth of the
        probation) and the reference's plain binary bins, so the NAB protocol runs CAD OSE itself.
        Must be called before the first value.
        """
        if self.n:
            raise RuntimeError("apply_priors must be called before the first value")
        self.value_range = (float(min(value_min, value_max)), float(max(value_min, value_max)))
        self.lo, self.hi = self.value_range
        self.ready = True
        self.rest_period = max(0, int(probation_rows / 5.0))
        self.gray_code = False  # the reference's plain binary bins

    # -- public verbs -------------------------------------------------------------------------
    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        value = self._value(x)
        if value is None or not self.ready:
            return AnomalyScore(score=0.0, confidence=0.0)
        return self._score(value, self._plan(value))

    def score_learn_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        """``score_one`` then ``learn_one`` in one call: the value is read and the step planned once.

        Why: ``models.base.score_learn`` (the dataflow, ``forewarn bench nab``) prefers this; the numbers
        and the state are those of the two verbs (``tests/models/test_contract.py``).
        """
        value = self._value(x)
        if value is None:
            return AnomalyScore(score=0.0, confidence=0.0)
        if not self.ready:
            self._learn(value)
            return AnomalyScore(score=0.0, confidence=0.0)
        return self._anomaly(*self.score_learn_value(value))

    def score_learn_value(self, value: float) -> tuple[float, float]:
        """``score_learn_one`` for a finite value once the range is known: (score, confidence).

        The score reads the state before learning; the step is planned and learned in one call.
        """
        facts = self._facts(value)
        beyond = self._new_beyond(value, facts[0])
        record, n, since = self._new_record(value), self.n, self.since_strong
        raw = self._learn(value, facts)
        return self._scored(0.0 if raw is None else raw, beyond, record, n, since)

    def _score(self, value: float, plan: Plan | NativePlan) -> AnomalyScore:
        beyond = self._new_beyond(value, plan.sens[0])
        return self._anomaly(
            *self._scored(plan.raw, beyond, self._new_record(value), self.n, self.since_strong)
        )

    def _scored(self, raw: float, beyond: bool, record: bool, n: int, since: int) -> tuple[float, float]:
        """A step's (score, confidence) from the state before it: ``n`` values learned, ``since`` the
        last strong score. A value ``beyond`` the range is new evidence, so no rest period holds it."""
        score = raw if beyond or since > self.rest_period else 0.0
        score = 1.0 if record else min(1.0, max(0.0, score))
        return score, min(1.0, n / (self.warmup + self.rest_period + 1.0))

    def _new_beyond(self, value: float, first_fact: int) -> bool:
        """``value`` (whose facts start with ``first_fact``) is beyond the bins and every value seen.

        Read before learning it; such a value is new evidence, so no rest period holds it.
        """
        if first_fact < 2 * self.value_bits:  # in range: a bin's facts
            return False
        return self.n == 0 or not self.seen_min.get() <= value <= self.seen_max.get()

    def _anomaly(self, score: float, confidence: float) -> AnomalyScore:
        return AnomalyScore(score=score, confidence=confidence, drivers={self.feature or "value": score})

    def explain_one(self, x: Mapping[str, float]) -> dict[str, float]:
        """What drove the score (read-only, before learning): novelty, memory size, range, which rule."""
        value = self._value(x)
        if value is None or not self.ready:
            return {}
        plan = self._plan(value)
        return {
            "novelty": plan.raw,
            "contexts": float(len(self.memory)),
            "range_low": self.lo,
            "range_high": self.hi,
            "beyond_range": float(plan.sens[0] >= 2 * self.value_bits),
            "new_record": float(self._new_record(value)),
        }

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        value = self._value(x)
        if value is not None:
            self._learn(value)

    # -- internals ----------------------------------------------------------------------------
    def _learn(self, value: float, facts: tuple[int, ...] | None = None) -> float | None:
        """Learn ``value`` (``facts``: its facts in the current range, when known already).

        The raw score of its step, or None while the online range warms up.
        """
        self.n += 1
        if self.online_record and self.value_range is None:  # only the online rule reads these
            if self.n == 1 or value < self.seen_min.get():
                self.low_at = self.n
            if self.n == 1 or value > self.seen_max.get():
                self.high_at = self.n
        self.seen_min.update(value)
        self.seen_max.update(value)
        if self.value_range is None:
            if self.n == 1:
                self.anchor = value
            self.recent.append(value - self.anchor)
            if len(self.recent) > self.replay:
                del self.recent[0]
            if not self.ready:
                if len(self.recent) >= min(self.warmup, self.replay):
                    self._fit_recent()
                return None
        raw = self._step(value, facts)
        if self.value_range is None:
            if not self.lo <= value <= self.hi:
                self._grow(value)
            if self.refit_at and self.n - self.refit_at >= self.replay:
                headroom = self.refit_headroom if self.refit_told else self.initial_headroom
                self.refit_at, self.refit_told = 0, False
                self._fit_recent(headroom, narrow_only=True)
        return raw

    def refit_from(self, events: int) -> None:
        """A new level began ``events`` values ago (told by another detector): fit the bins to it
        once the replay window holds only values from after it, when that is narrower.

        Why: a shift less than the range's width past it widens the range at once, over both
        levels, and is not marked as a shift here; the new level then sits in half the bins.
        The bins get ``refit_headroom`` spans each side, not the warm-up's ``initial_headroom``:
        the new level has held for a whole day (the likelihood part's test), so fewer of its values
        are still unseen than after a 100-value warm-up, and bins three spans wide left a daily
        cycle in three of the eight. Half a span was read off the shift variants of ``forewarn
        bench robustness``, not off clean labels; CAD's own refit after a far shift, which knows
        only its replay window, keeps the warm-up's headroom (bench/README.md).
        """
        if self.value_range is None and self.ready and events > 0:
            self.refit_at, self.refit_told = max(1, self.n - events), True

    def _fit_recent(self, headroom: float | None = None, narrow_only: bool = False) -> None:
        """Bins over the replayed values: their min/max widened by ``headroom`` spans each side
        (``initial_headroom`` unless given).

        ``narrow_only``: the refit after a shift, kept only when narrower than the range now (and
        not over a flat window, which says nothing of the new level's spread).
        """
        lo, hi = self.anchor + min(self.recent), self.anchor + max(self.recent)
        margin = (self.initial_headroom if headroom is None else headroom) * (hi - lo)
        if narrow_only and not (hi > lo and hi - lo + 2 * margin < self.hi - self.lo):
            return
        self._relearn(lo - margin, hi + margin)

    def _grow(self, value: float) -> None:
        """Widen the online range past ``value``: at once when it is near, else once it recurs.

        Near: less than the range's width past it. Further, the range grows past the high end once
        ``k + 1`` far values have come above it since the bins were set (``k`` = ``range_trim`` of
        the replay window), to the ``k + 1``-th furthest of them, so up to ``k`` far outliers never
        resize the bins.
        """
        span = self.hi - self.lo
        far = value - self.hi > span or self.lo - value > span
        k = int(self.range_trim * len(self.recent)) if far else 0
        lo, hi = self.lo, self.hi
        if value > self.hi:
            edge = _kth_furthest(self.far_above, value, k) if k else value
            if edge is not None:
                hi = max(edge, value) + self.range_growth * span
        else:
            edge = _kth_furthest(self.far_below, -value, k) if k else -value
            if edge is not None:
                lo = min(-edge, value) - self.range_growth * span
        if (lo, hi) != (self.lo, self.hi):
            self._relearn(lo, hi)
            if far:  # a shift: refit once the replay window holds only values from after it
                self.refit_at, self.refit_told = self.n, False

    def _new_record(self, value: float) -> bool:
        """The spatial rule: beyond the extremes learned so far by ``spatial_tolerance`` of their span.

        Online (no given range) only once ``warmup`` values are learned, and only past an extreme
        that has held for ``warmup`` values (see the module's docstring).
        """
        online = self.value_range is None
        if self.spatial_tolerance is None or (online and (not self.online_record or self.n < self.warmup)):
            return False
        lo, hi = self.seen_min.get(), self.seen_max.get()
        if not hi > lo:
            return False
        margin = self.spatial_tolerance * (hi - lo)
        if value > hi + margin:
            return not online or self.n - self.high_at >= self.warmup
        if value < lo - margin:
            return not online or self.n - self.low_at >= self.warmup
        return False

    def _facts(self, value: float) -> tuple[int, ...]:
        """Value facts: bit position and bit of the value's bin; one fact of its own out of range.

        Why a fact of its own: bit facts of an out-of-range bin would share low bits with in-range
        bins, so contexts learned on partial overlaps would half-predict a spike; a value above (or
        below) the range is a different kind of event and gets a fact no in-range value has.
        """
        levels = (1 << self.value_bits) - 1
        span = self.hi - self.lo
        if not span > 0:  # a flat start: any other value is beyond it, in whatever unit
            if value == self.lo:
                return _bin_facts(0, self.value_bits)
            return (2 * self.value_bits + 1,) if value > self.hi else (2 * self.value_bits,)
        position = (value - self.lo) / (span / levels)
        if position >= levels + 1 or (not math.isfinite(position) and value > self.hi):
            return (2 * self.value_bits + 1,)
        if position < 0 or not math.isfinite(position):
            return (2 * self.value_bits,)
        q = min(int(position), levels)  # top edge: in the top bin
        return _bin_facts(q ^ (q >> 1) if self.gray_code else q, self.value_bits)

    def _plan(self, value: float) -> Plan | NativePlan:
        if self._cache is not None and self._cache[0] == value:
            return self._cache[1]
        plan = self.memory.plan(self._facts(value))
        self._cache = (value, plan)
        return plan

    def _step(self, value: float, facts: tuple[int, ...] | None = None) -> float:
        """Learn one step (the plan cached by ``score_one`` when there is one); its raw score."""
        if self._cache is not None and self._cache[0] == value:
            raw = self._cache[1].raw
            self.memory.commit(self._cache[1])  # type: ignore[arg-type]
        else:
            raw = self.memory.step(facts if facts is not None else self._facts(value))
        self._cache = None
        self.since_strong = 1 if raw >= self.base_threshold else self.since_strong + 1
        if len(self.memory) > self.max_contexts:
            self.memory.prune(self.max_contexts // 2)
        return raw

    def _relearn(self, lo: float, hi: float) -> None:
        """New bins: start a fresh memory and replay the recent values through it (no alerts)."""
        self.lo, self.hi = lo, hi
        self.ready = True
        self.far_above, self.far_below = [], []
        self.memory = memory_factory(self.max_left_facts, self.max_active_neurons)
        self._cache = None
        since = self.since_strong
        anchor = self.anchor
        for v in self.recent:
            self._step(anchor + v)
        self.since_strong = since

    # -- pickling: the memory packed into arrays and compressed --------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("memory", "_cache")}
        state["memory"] = pack(self.memory)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        memory = unpack(state.pop("memory"))
        # snapshots from before the online record rule keep the behaviour they were saved with
        state.setdefault("online_record", False)
        state.setdefault("anchor", 0.0)  # before offsets, ``recent`` held the values themselves
        state.setdefault("gray_code", False)  # its memory holds contexts of plain binary bins
        state.setdefault("low_at", 0)
        state.setdefault("high_at", 0)
        state.setdefault("range_trim", 0.0)  # grew on every value past the range
        state.setdefault("refit_at", 0)
        state.setdefault("refit_headroom", 1.0)  # refitted with the warm-up's headroom
        state.setdefault("refit_told", False)
        # before the far values were counted since the bins were set: counting starts on restore
        state.setdefault("far_above", [])
        state.setdefault("far_below", [])
        if "seen_lo" in state:  # a snapshot from before river.stats: the same extremes, as floats
            state["seen_min"], state["seen_max"] = stats.Min(), stats.Max()
            state["seen_min"].update(state.pop("seen_lo"))
            state["seen_max"].update(state.pop("seen_hi"))
        self.__dict__.update(state)
        self.memory = memory
        self._cache = None


def _kth_furthest(heap: list[float], value: float, k: int) -> float | None:
    """Keep ``value`` among the ``k + 1`` largest of ``heap``; their smallest once there are ``k + 1``."""
    if len(heap) <= k:
        heapq.heappush(heap, value)
    elif value > heap[0]:
        heapq.heapreplace(heap, value)
    return heap[0] if len(heap) > k else None


@lru_cache(maxsize=1024)
def _bin_facts(q: int, value_bits: int) -> tuple[int, ...]:
    """The facts of bin ``q``: bit position and bit (cached: a step's cost is counted in microseconds)."""
    return tuple(2 * i + ((q >> i) & 1) for i in range(value_bits))


__all__ = ["NEURON", "ContextDetector"]
