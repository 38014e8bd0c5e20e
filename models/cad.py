"""A contextual anomaly detector in the style of CAD OSE (Smirnov's NAB 2016 competition winner).

Why a second detector: ``LikelihoodDetector`` measures how *far* a value is from normal; it cannot
see a value that is ordinary in size but arrives in an unusual *sequence* (a flat-lined gauge, a
rhythm that breaks, a level that is normal for night-time but not after this afternoon's pattern).
CAD learns which coarse value patterns follow which, and scores how badly the learned contexts
predicted the present.

How it works (written from the published description of CAD OSE, not from its code):

* Each value is quantised into ``value_bits`` bits over the range seen so far; each bit position
  with its value is one *fact*, so neighbouring values share facts (overlapping bins).
* A *context* pairs a left semi-context (the facts of the previous step: its value facts plus the
  ids of the contexts that were active then, the detector's "neurons") with a right semi-context
  (the value facts of the current step). A context is *selected* when all its left facts held on
  the previous step, and *active* when all its right facts hold now.
* Two novelties make the raw score ``(1 - active/selected + new/potential) / 2``: the share of
  selected contexts whose prediction failed, and the share of candidate contexts (the zero-level
  one for this step, plus partial overlaps of the learned ones) that had never been seen.
* After a raw score >= ``base_threshold`` the detector reports 0 for ``rest_period`` events: one
  alert per incident. (``extend_rest=True`` restarts the rest on every strong raw score, as CAD
  OSE does; on NAB that cost 2.4 points, so it is off.)

Streaming honesty: the NAB reference wrapper gives CAD the file's min and max in advance; here the
range is learned online and no file length is known. A value outside the range widens it by
``range_headroom`` times the new span, so re-mappings (which invalidate learned contexts) stay rare:
on NAB (rest 150), plain min/max widening scored 44.5, headroom 1.0 scored 50.0, and the look-ahead
min/max of the reference wrapper 54.5. Headroom maps a new extreme to mid-range, where its bit
facts look ordinary, so a value beyond the widened range scores 1.0 outright (``extreme_alarm``;
+1.5 on NAB). ``value_range`` fixes the range up front for gauges with known bounds (percentages,
pool sizes).

Memory is capped (``max_contexts``, ``max_facts``): past a cap the least used contexts are forgotten
down to half of it, so the pickled state stays under the 20 KB per-series budget (max 13.7 KB on NAB).

``score_one`` is pure (reads only); ``learn_one`` applies the same step and updates the memory.
"""

from __future__ import annotations

from collections.abc import Mapping

from forewarn.models.base import AnomalyScore, Snapshottable, as_finite

_Plan = tuple[float, list[tuple[int, int]], list[tuple[tuple[int, ...], tuple[int, ...]]]]
_NEURON = 1 << 16  # neuron facts are _NEURON + context id, value facts are below 2 * value_bits


class ContextDetector(Snapshottable):
    """CAD-OSE-style online detector; ``score_one`` is in [0, 1], higher is more anomalous."""

    def __init__(
        self,
        feature: str | None = None,
        value_bits: int = 3,
        max_left_facts: int = 7,
        max_active_neurons: int = 15,
        base_threshold: float = 0.75,
        rest_period: int = 100,
        max_contexts: int = 300,
        max_facts: int = 3000,
        warmup: int = 10,
        extend_rest: bool = False,
        value_range: tuple[float, float] | None = None,
        range_headroom: float = 1.0,
        extreme_alarm: bool = True,
    ) -> None:
        if not 1 <= value_bits <= 12:
            raise ValueError(f"value_bits must be in [1, 12], got {value_bits}")
        if max_contexts < 10:
            raise ValueError(f"max_contexts must be >= 10, got {max_contexts}")
        self.feature = feature
        self.value_bits = value_bits
        self.max_left_facts = max_left_facts
        self.max_active_neurons = max_active_neurons
        self.base_threshold = base_threshold
        self.rest_period = rest_period
        self.max_contexts = max_contexts
        self.max_facts = max_facts
        self.warmup = warmup
        self.extend_rest = extend_rest
        self.value_range = value_range
        self.range_headroom = range_headroom
        self.extreme_alarm = extreme_alarm
        self.n = 0
        self.lo = 0.0
        self.hi = 0.0
        self.quiet = 0  # events left in the rest period
        self.prev_left: tuple[int, ...] = ()
        self.next_id = 0
        self.n_facts = 0  # facts stored over all contexts: what the pickled state grows with
        # contexts: id -> [left facts, right facts, uses, zero-level flag]
        self.contexts: dict[int, list[object]] = {}
        self.version = 0  # bumped on every learned step: keys the plan cache
        self._reindex()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(feature={self.feature!r}, value_bits={self.value_bits}, "
            f"max_left_facts={self.max_left_facts}, max_active_neurons={self.max_active_neurons}, "
            f"base_threshold={self.base_threshold}, rest_period={self.rest_period}, "
            f"max_contexts={self.max_contexts}, max_facts={self.max_facts}, "
            f"extend_rest={self.extend_rest}, value_range={self.value_range}, "
            f"range_headroom={self.range_headroom}, extreme_alarm={self.extreme_alarm})"
        )

    # -- pickling: only the contexts are state; the indexes are rebuilt ---------------------------
    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        for k in ("_cache", "_by_pair", "_left_of_fact", "_right_of_fact", "_left_sets", "_right_sets"):
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._reindex()

    def _reindex(self) -> None:
        """Indexes over the contexts: by (left, right) pair and by fact, for fast crossing."""
        self._cache: tuple[tuple[int, tuple[int, ...]], _Plan] | None = None
        self._by_pair: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        self._left_of_fact: dict[int, set[tuple[int, ...]]] = {}
        self._right_of_fact: dict[int, set[tuple[int, ...]]] = {}
        self._left_sets: dict[tuple[int, ...], dict[tuple[int, ...], int]] = {}
        for cid, ctx in self.contexts.items():
            self._index(cid, ctx[0], ctx[1])  # type: ignore[arg-type]

    def _index(self, cid: int, left: tuple[int, ...], right: tuple[int, ...]) -> None:
        self._by_pair[(left, right)] = cid
        self._left_sets.setdefault(left, {})[right] = cid
        for f in left:
            self._left_of_fact.setdefault(f, set()).add(left)
        for f in right:
            self._right_of_fact.setdefault(f, set()).add(right)

    # -- public verbs ---------------------------------------------------------------------------
    def score_one(self, x: Mapping[str, float], t: float | None = None) -> AnomalyScore:
        value = self._value(x)
        if value is None or self.n < self.warmup:
            return AnomalyScore(score=0.0, confidence=0.0)
        raw = 1.0 if self._novel_extreme(value) else self._plan(self._facts(value))[0]
        score = 0.0 if self.quiet > 0 else raw
        return AnomalyScore(
            score=score,
            confidence=min(1.0, self.n / (10.0 * self.warmup)),
            drivers={self.feature or "value": score},
        )

    def learn_one(self, x: Mapping[str, float], t: float | None = None) -> None:
        value = self._value(x)
        if value is None:
            return
        if self.n == 0:
            self.lo, self.hi = self.value_range or (value, value)
        extreme = self._novel_extreme(value)
        self.lo, self.hi = self._range(value)
        facts = self._facts(value)
        plan = self._plan(facts)
        self._commit(facts, plan)
        raw = 1.0 if extreme else plan[0]
        if raw >= self.base_threshold and self.n >= self.warmup and (self.extend_rest or not self.quiet):
            self.quiet = self.rest_period  # CAD OSE: any strong raw score (re)starts the rest
        elif self.quiet > 0:
            self.quiet -= 1
        self.n += 1
        if len(self.contexts) > self.max_contexts or self.n_facts > self.max_facts:
            self._forget()

    # -- internals ------------------------------------------------------------------------------
    def _value(self, x: Mapping[str, float]) -> float | None:
        if self.feature is not None:
            return as_finite(x.get(self.feature))
        for v in x.values():
            return as_finite(v)
        return None

    def _range(self, value: float) -> tuple[float, float]:
        """The value range once ``value`` is seen: widened past it by ``range_headroom`` spans.

        Why headroom: every widening re-maps all bins and so invalidates the learned contexts;
        widening geometrically keeps the number of re-maps logarithmic in the range growth.
        """
        lo, hi = self.lo, self.hi
        if lo <= value <= hi:
            return lo, hi
        span = max(hi, value) - min(lo, value)
        if value > hi:
            hi = value + self.range_headroom * span
        if value < lo:
            lo = value - self.range_headroom * span
        return lo, hi

    def _facts(self, value: float) -> tuple[int, ...]:
        """Value facts: bit position and bit of the value quantised over the range seen so far."""
        lo, hi = self._range(value)
        levels = (1 << self.value_bits) - 1
        span = hi - lo
        q = 0 if span <= 0 or not span < float("inf") else int((value - lo) / span * levels)
        q = min(max(q, 0), levels)
        facts = tuple(2 * i + ((q >> i) & 1) for i in range(self.value_bits))
        return facts

    def _novel_extreme(self, value: float) -> bool:
        """A value beyond the range *with its headroom*: a larger excursion than anything seen.

        Why a separate signal: headroom re-maps such a value to mid-range, where the bit facts
        cannot tell it apart from an ordinary one, so CAD would only notice it a step later.
        """
        return self.extreme_alarm and self.n >= self.warmup and not self.lo <= value <= self.hi

    def _plan(self, right: tuple[int, ...]) -> _Plan:
        """The read-only half of a CAD step: raw score, contexts that fired, candidate contexts.

        Cached for the last input, so ``learn_one`` after ``score_one`` on the same value reuses it.
        """
        key = (self.version, right)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        prev = self.prev_left
        prev_set = set(prev)
        right_set = set(right)
        zero_pair = (prev, right)
        touched_left: set[tuple[int, ...]] = set()
        for f in prev:
            touched_left |= self._left_of_fact.get(f, set())
        selected = 0
        active: list[tuple[int, int]] = []  # (uses, id)
        potential: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        zero_new = bool(prev) and zero_pair not in self._by_pair
        for left in touched_left:
            left_hit = tuple(f for f in left if f in prev_set)
            left_full = len(left_hit) == len(left)
            for rt, cid in self._left_sets[left].items():
                ctx = self.contexts[cid]
                right_hit = tuple(f for f in rt if f in right_set)
                if left_full:
                    selected += 1
                    if right_hit:
                        if len(right_hit) == len(rt):
                            active.append((ctx[2], cid))  # type: ignore[arg-type]
                        elif ctx[3] and len(right_hit) <= self.max_left_facts:
                            potential.add((left, right_hit))
                elif ctx[3] and zero_new and right_hit and len(left_hit) <= self.max_left_facts:
                    potential.add((left_hit, right_hit))
        candidates = set(potential)
        if prev:
            candidates.add(zero_pair)
        new = sum(1 for p in candidates if p not in self._by_pair)
        hit_rate = len(active) / selected if selected else 0.0
        added = new / len(candidates) if candidates else 0.0
        raw = min(1.0, max(0.0, (1.0 - hit_rate + added) / 2.0))
        plan: _Plan = (raw, active, sorted(potential))
        self._cache = (key, plan)
        return plan

    def _commit(self, right: tuple[int, ...], plan: _Plan) -> None:
        """The learning half: count the contexts that fired, add the new ones, pick the neurons."""
        _, active, potential = plan
        prev = self.prev_left
        for _, cid in active:
            self.contexts[cid][2] = self.contexts[cid][2] + 1  # type: ignore[operator]
        if prev:
            zero_id = self._by_pair.get((prev, right))
            if zero_id is None:
                self._add(prev, right, zero=True)
            else:
                self.contexts[zero_id][3] = True
        for left, rt in potential:
            if (left, rt) not in self._by_pair:
                self._add(left, rt, zero=False)
        ranked = sorted(((uses + 1, cid) for uses, cid in active), reverse=True)
        neurons = [_NEURON + cid for _, cid in ranked[: self.max_active_neurons]]
        self.prev_left = tuple(sorted(set(right) | set(neurons)))
        self.version += 1
        self._cache = None

    def _add(self, left: tuple[int, ...], right: tuple[int, ...], zero: bool) -> None:
        cid = self.next_id
        self.next_id += 1
        self.contexts[cid] = [left, right, 0, zero]
        self.n_facts += len(left) + len(right)
        self._index(cid, left, right)

    def _forget(self) -> None:
        """Keep the most used contexts (newest first among ties) within half of both caps.

        Why halve instead of evicting one at a time: each eviction rebuilds the fact indexes, so
        forgetting in bulk keeps the amortised cost per event O(1) in the cap.
        """
        ranked = sorted(self.contexts, key=lambda c: (self.contexts[c][2], c), reverse=True)
        kept: dict[int, list[object]] = {}
        facts = 0
        for cid in ranked:
            ctx = self.contexts[cid]
            size = len(ctx[0]) + len(ctx[1])  # type: ignore[arg-type]
            if len(kept) >= self.max_contexts // 2 or facts + size > self.max_facts // 2:
                break
            kept[cid] = ctx
            facts += size
        self.contexts = kept
        self.n_facts = facts
        self.version += 1
        self._reindex()
