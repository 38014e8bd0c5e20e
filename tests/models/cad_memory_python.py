"""The pure-Python CAD OSE context memory, kept verbatim as a test oracle for the numpy one.

Why keep it: ``forewarn.models.cad_memory`` answers the same step with vectorised set arithmetic
(bitmasks, counts over a fact index, a cached left side), which is easy to get subtly wrong in the
order of new contexts or a tie in the ranking; ``tests/models/test_cad_memory.py`` runs this copy and
the numpy memory side by side and asserts identical plans step by step. This is the code that was
checked against ``cad_reference.py`` and scored NAB before the rewrite; do not optimise it.

What a fact, a semi-context, a context and a step are: the module docstring of
``forewarn.models.cad_memory``, which this copy shared before the rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NEURON = 1 << 31  # neuron facts are NEURON + context id; value facts are small ints

Pair = tuple[tuple[int, ...], tuple[int, ...]]


@dataclass(slots=True)
class Plan:
    """What one step would do, computed without changing the memory."""

    sens: tuple[int, ...]
    zero: Pair | None  # the step's zero-level context: (previous facts, value facts now)
    zero_id: int | None  # its id when it is already known
    active: list[int] = field(default_factory=list)  # contexts whose prediction came true
    selected: int = 0  # contexts whose left side held
    candidates: list[Pair] = field(default_factory=list)  # partial overlaps to learn
    raw: float = 0.0  # (1 - active/selected + new/unique candidates) / 2
    next_left: tuple[int, ...] = ()  # facts the next step's contexts start from


class ContextMemory:
    """Semi-contexts and contexts with the indexes a step needs; see the module docstring."""

    def __init__(self, max_left_facts: int = 7, max_active: int = 15) -> None:
        self.max_left_facts = max_left_facts
        self.max_active = max_active
        self.left_facts: list[tuple[int, ...]] = []  # left semi-context id -> facts
        self.right_facts: list[tuple[int, ...]] = []  # right semi-context id -> facts
        self.ctx_left: list[int] = []  # context id -> left semi-context id
        self.ctx_right: list[int] = []  # context id -> right semi-context id
        self.ctx_count: list[int] = []  # times the context was active
        self.ctx_zero: list[bool] = []  # ever the zero-level context of a step
        self.ctx_last: list[int] = []  # clock of its creation or last activation
        self.clock = 0
        self.prev: tuple[int, ...] = ()  # facts of the previous step (value facts + neurons)
        self._reindex()

    # -- indexes (derived; rebuilt after restore and prune) -------------------------------------
    def _reindex(self) -> None:
        self._left_id: dict[tuple[int, ...], int] = {}
        self._right_id: dict[tuple[int, ...], int] = {}
        self._left_by_fact: dict[int, list[int]] = {}
        self._right_by_fact: dict[int, list[int]] = {}
        self._left_rights: list[dict[int, int]] = []  # left id -> {right id: context id}
        self._ctx_key: list[tuple[int, int]] = []  # (hash of left facts, hash of right facts)
        for lid, facts in enumerate(self.left_facts):
            self._left_id[facts] = lid
            self._left_rights.append({})
            for f in facts:
                self._left_by_fact.setdefault(f, []).append(lid)
        for rid, facts in enumerate(self.right_facts):
            self._right_id[facts] = rid
            for f in facts:
                self._right_by_fact.setdefault(f, []).append(rid)
        for cid, (lid, rid) in enumerate(zip(self.ctx_left, self.ctx_right, strict=True)):
            self._left_rights[lid][rid] = cid
            self._ctx_key.append((hash(self.left_facts[lid]), hash(self.right_facts[rid])))
        self._crossed = self._cross(self.prev)

    def _cross(self, facts: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
        """Left semi-contexts sharing a fact with ``facts``, with the shared facts, in first-hit order."""
        hits: dict[int, list[int]] = {}
        for f in facts:
            for lid in self._left_by_fact.get(f, ()):
                hits.setdefault(lid, []).append(f)
        return [(lid, tuple(shared)) for lid, shared in hits.items()]

    def __len__(self) -> int:
        return len(self.ctx_left)

    def find(self, pair: Pair) -> int | None:
        lid = self._left_id.get(pair[0])
        rid = self._right_id.get(pair[1])
        if lid is None or rid is None:
            return None
        return self._left_rights[lid].get(rid)

    def _add(self, pair: Pair, zero: bool) -> int:
        left, right = pair
        lid = self._left_id.get(left)
        if lid is None:
            lid = len(self.left_facts)
            self.left_facts.append(left)
            self._left_id[left] = lid
            self._left_rights.append({})
            for f in left:
                self._left_by_fact.setdefault(f, []).append(lid)
        rid = self._right_id.get(right)
        if rid is None:
            rid = len(self.right_facts)
            self.right_facts.append(right)
            self._right_id[right] = rid
            for f in right:
                self._right_by_fact.setdefault(f, []).append(rid)
        cid = len(self.ctx_left)
        self.ctx_left.append(lid)
        self.ctx_right.append(rid)
        self.ctx_count.append(0)
        self.ctx_zero.append(zero)
        self.ctx_last.append(self.clock)
        self._left_rights[lid][rid] = cid
        self._ctx_key.append((hash(left), hash(right)))
        return cid

    # -- one step --------------------------------------------------------------------------------
    def plan(self, value_facts: tuple[int, ...]) -> Plan:
        """Score the step for ``value_facts`` against the memory, without learning."""
        sens = tuple(sorted(set(value_facts)))
        zero: Pair | None = (self.prev, sens) if self.prev and sens else None
        zero_id = self.find(zero) if zero is not None else None
        new_zero = zero is not None and zero_id is None
        plan = Plan(sens=sens, zero=zero, zero_id=zero_id)
        crossed_right: dict[int, list[int]] = {}
        for f in sens:
            for rid in self._right_by_fact.get(f, ()):
                crossed_right.setdefault(rid, []).append(f)
        for lid, shared in self._crossed:
            full = len(shared) == len(self.left_facts[lid])
            short = len(shared) <= self.max_left_facts
            for rid, cid in self._left_rights[lid].items():
                hit = crossed_right.get(rid)
                if full:
                    plan.selected += 1
                    if hit:
                        if len(hit) == len(self.right_facts[rid]):
                            plan.active.append(cid)
                        elif new_zero and self.ctx_zero[cid] and short:
                            plan.candidates.append((shared, tuple(hit)))
                elif new_zero and hit and self.ctx_zero[cid] and short:
                    plan.candidates.append((shared, tuple(hit)))
        candidates = set(plan.candidates)
        new = sum(1 for c in candidates if c != zero and self.find(c) is None)
        unique = candidates | {zero} if zero is not None else candidates
        new += 1 if new_zero else 0
        hit_share = len(plan.active) / plan.selected if plan.selected else 0.0
        new_share = new / len(unique) if unique and new_zero else 0.0
        plan.raw = (1.0 - hit_share + new_share) / 2.0
        ranked = sorted(plan.active, key=lambda c: (self.ctx_count[c] + 1, *self._ctx_key[c]))
        neurons = {NEURON + c for c in ranked[-self.max_active :]} if self.max_active else set()
        plan.next_left = tuple(sorted(set(sens) | neurons))
        return plan

    def step(self, value_facts: tuple[int, ...]) -> float:
        """Plan and commit (added for ``ContextDetector``'s one-call step; the algorithm is untouched)."""
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
                self.ctx_zero[plan.zero_id] = True
        for cid in plan.active:
            self.ctx_count[cid] += 1
            self.ctx_last[cid] = self.clock
        for pair in plan.candidates:
            if self.find(pair) is None:
                self._add(pair, zero=False)
        self.prev = plan.next_left
        self._crossed = self._cross(self.prev)

    # -- forgetting ---------------------------------------------------------------------------
    def prune(self, keep: int) -> None:
        """Keep the ``keep`` most recently active contexts (ties: most used), renumbered in order.

        Why recency: on NAB, forgetting by recency lost less than forgetting by use count (a context
        learned in last month's regime is the least likely to fire again). Contexts whose left facts
        name a forgotten neuron go too: they can never be selected again.
        """
        order = sorted(range(len(self)), key=lambda c: (self.ctx_last[c], self.ctx_count[c]), reverse=True)
        kept = sorted(order[:keep])
        remap: dict[int, int] = {}
        old_lefts, old_rights, old_prev = self.left_facts, self.right_facts, self.prev
        old_left, old_right = self.ctx_left, self.ctx_right
        old_count, old_zero, old_last = self.ctx_count, self.ctx_zero, self.ctx_last
        self.left_facts, self.right_facts = [], []
        self.ctx_left, self.ctx_right = [], []
        self.ctx_count, self.ctx_zero, self.ctx_last = [], [], []
        self.prev = ()
        self._reindex()
        for cid in kept:
            left = _renumber(old_lefts[old_left[cid]], remap)
            if left is None:
                continue
            new_id = self._add((left, old_rights[old_right[cid]]), zero=old_zero[cid])
            self.ctx_count[new_id] = old_count[cid]
            self.ctx_last[new_id] = old_last[cid]
            remap[cid] = new_id
        prev = [f for f in old_prev if f < NEURON or f - NEURON in remap]
        self.prev = tuple(sorted(f if f < NEURON else NEURON + remap[f - NEURON] for f in prev))
        self._crossed = self._cross(self.prev)


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
