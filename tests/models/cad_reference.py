"""The reference CAD OSE step, restated from the NAB repository's ``context_ose`` detector: a test oracle.

Why keep it: ``forewarn.models.cad_memory`` splits the step into a read-only plan and a commit and
packs the memory; this file is the plain reference logic it must agree with step by step. Run over
NAB with each file's min/max (the NAB protocol), this restatement scored 70.01 / 67.18 / 73.11 with
the shared scorer against the published 69.9 / 67.0 / 73.2, which is how we know it is faithful.
One deliberate difference: the reference marks "no new context this step" with ``False``, and
``False != 0`` is false in Python, so it never looks at context 0; this oracle uses ``None``.
"""

# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations


class ContextOperator:
    """CAD OSE's context_operator.py, restated (names shortened, logic unchanged)."""

    def __init__(self, max_left: int) -> None:
        self.max_left = max_left
        self.facts_dics: list[dict] = [{}, {}]
        self.semi_dics: list[dict] = [{}, {}]
        self.semi_vals: list[list] = [[], []]
        self.crossed: list[list] = [[], []]
        self.contexts: list[list] = []
        self.new_context_id: int | None = None

    def get_context_by_facts(self, new_contexts, zerolevel=0):
        added = 0
        for left_facts, right_facts in new_contexts:
            lh = hash(left_facts)
            rh = hash(right_facts)
            nxt = len(self.semi_dics[0])
            lid = self.semi_dics[0].setdefault(lh, nxt)
            if lid == nxt:
                self.semi_vals[0].append([[], len(left_facts), 0, {}])
                for fact in left_facts:
                    self.facts_dics[0].setdefault(fact, []).append(lid)
            nxt = len(self.semi_dics[1])
            rid = self.semi_dics[1].setdefault(rh, nxt)
            if rid == nxt:
                self.semi_vals[1].append([[], len(right_facts), 0])
                for fact in right_facts:
                    self.facts_dics[1].setdefault(fact, []).append(rid)
            nxt = len(self.contexts)
            cid = self.semi_vals[0][lid][3].setdefault(rid, nxt)
            if cid == nxt:
                added += 1
                self.contexts.append([0, zerolevel, lh, rh])
                if zerolevel:
                    self.new_context_id = cid
                    return True
            else:
                if zerolevel:
                    self.contexts[cid][1] = 1
                    return False
        return added

    def context_crosser(self, left_or_right, facts, new_context_flag=False, potential=None):
        if left_or_right == 0:
            num_new = self.get_context_by_facts(potential) if potential else 0
        for v in self.crossed[left_or_right]:
            v[0] = []
            v[2] = 0
        new_crossed = []
        for fact in facts:
            for sid in self.facts_dics[left_or_right].get(fact, ()):
                v = self.semi_vals[left_or_right][sid]
                v[0].append(fact)
                v[2] += 1
                if v[2] == 1:
                    new_crossed.append(v)
        self.crossed[left_or_right] = new_crossed
        if left_or_right:
            return self.update_contexts_and_get_active(new_context_flag)
        return num_new

    def update_contexts_and_get_active(self, new_context_flag):
        active = []
        selected = 0
        potential = []
        for lv in self.crossed[0]:
            for rid, cid in lv[3].items():
                if self.new_context_id != cid:  # reference: False != 0 skips context 0 (fixed here)
                    cv = self.contexts[cid]
                    r0, r1, r2 = self.semi_vals[1][rid]
                    if lv[1] == lv[2]:
                        selected += 1
                        if r2 > 0:
                            if r1 == r2:
                                cv[0] += 1
                                active.append((cid, cv[0], cv[2], cv[3]))
                            elif cv[1] and new_context_flag:
                                if lv[2] <= self.max_left:
                                    potential.append((tuple(lv[0]), tuple(r0)))
                    elif cv[1] and new_context_flag and r2 > 0:
                        if lv[2] <= self.max_left:
                            potential.append((tuple(lv[0]), tuple(r0)))
        self.new_context_id = None
        return active, selected, potential


def reference_step(
    op: ContextOperator, left_facts: tuple, inp: set, max_active: int = 15
) -> tuple[float, tuple]:
    """One ``CAD_OSE.step``: returns the raw score and the next left facts."""
    sens = tuple(sorted(set(inp)))
    uniq = set()
    if left_facts and sens:
        zero = (left_facts, sens)
        uniq.add(zero)
        new_flag = op.get_context_by_facts([zero], zerolevel=1)
    else:
        new_flag = False
    active, selected, potential = op.context_crosser(1, sens, new_flag)
    uniq.update(potential)
    pct_active = len(active) / float(selected) if selected > 0 else 0.0
    srt = sorted(active, key=lambda a: (a[1], a[2], a[3]))
    neurons = [a[0] for a in srt[-max_active:]]
    lf = set(sens)
    lf.update(2**31 + f for f in neurons)
    next_left = tuple(sorted(lf))
    num_new = op.context_crosser(0, next_left, potential=potential)
    num_new += 1 if new_flag else 0
    pct_added = num_new / float(len(uniq)) if uniq else 0.0
    return (1.0 - pct_active + pct_added) / 2.0, next_left
