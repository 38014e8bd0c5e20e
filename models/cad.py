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
  alert per incident.

Streaming honesty: the NAB reference wrapper gives CAD the file's min and max in advance; here the
range is learned online (a value outside it widens the range, which is itself novel) and no file
length is known. Memory is capped (``max_contexts``): when the cap is reached the least used half
of the contexts is forgotten, so the state stays under the 20 KB per-series budget.

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
        rest_period: int = 30,
        max_contexts: int = 400,
        warmup: int = 10,
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
        self.warmup = warmup
        self.n = 0
        self.lo = 0.0
        self.hi = 0.0
        self.quiet = 0  # events left in the rest period
        self.prev_left: tuple[int, ...] = ()
        self.next_id = 0
        # contexts: id -> [left facts, right facts, uses, zero-level flag]
        self.contexts: dict[int, list[object]] = {}
        self.version = 0  # bumped on every learned step: keys the plan cache
        self._reindex()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(feature={self.feature!r}, value_bits={self.value_bits}, "
            f"max_left_facts={self.max_left_facts}, max_active_neurons={self.max_active_neurons}, "
            f"base_threshold={self.base_threshold}, rest_period={self.rest_period}, "
            f"max_contexts={self.max_contexts})"
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
        raw = self._plan(self._facts(value))[0]
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
            self.lo = self.hi = value
        self.lo = min(self.lo, value)
        self.hi = max(self.hi, value)
        facts = self._facts(value)
        plan = self._plan(facts)
        self._commit(facts, plan)
        raw = plan[0]
        if self.quiet > 0:
            self.quiet -= 1
        elif raw >= self.base_threshold and self.n >= self.warmup:
            self.quiet = self.rest_period
        self.n += 1
        if len(self.contexts) > self.max_contexts:
            self._forget()

    # -- internals ------------------------------------------------------------------------------
    def _value(self, x: Mapping[str, float]) -> float | None:
        if self.feature is not None:
            return as_finite(x.get(self.feature))
        for v in x.values():
            return as_finite(v)
        return None

    def _facts(self, value: float) -> tuple[int, ...]:
        """Value facts: bit position and bit of the value quantised over the range seen so far."""
        lo, hi = min(self.lo, value), max(self.hi, value)
        levels = (1 << self.value_bits) - 1
        span = hi - lo
        q = 0 if span <= 0 or not span < float("inf") else int((value - lo) / span * levels)
        q = min(max(q, 0), levels)
        return tuple(2 * i + ((q >> i) & 1) for i in range(self.value_bits))

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
        self._index(cid, left, right)

    def _forget(self) -> None:
        """Keep the most used half of the contexts (newest first among ties), rebuild the indexes."""
        ranked = sorted(self.contexts, key=lambda c: (self.contexts[c][2], c), reverse=True)
        keep = set(ranked[: self.max_contexts // 2])
        self.contexts = {c: v for c, v in self.contexts.items() if c in keep}
        self.version += 1
        self._reindex()
