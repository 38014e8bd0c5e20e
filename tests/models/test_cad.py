"""Behaviour of the contextual (CAD OSE) detector beyond the generic contract suite.

Why these cases: the memory must agree with the reference step (the NAB score rests on it), CAD's
point is *sequence* novelty (a learned rhythm goes quiet, a broken one with ordinary-sized values is
flagged), scoring must not learn, the memory cap and the compact snapshot must hold, and the value
range, known or learned online, must behave as documented.
"""

from __future__ import annotations

import pickle
import random

import pytest

from forewarn.models.cad import ContextDetector
from forewarn.models.cad_memory import ContextMemory
from tests.models.cad_reference import ContextOperator, reference_step

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0
PATTERN = [0.0, 2.0, 5.0, 7.0, 5.0, 2.0]


def _feed(model: ContextDetector, values: list[float]) -> list[float]:
    scores = []
    for i, v in enumerate(values):
        x = {"value": v}
        scores.append(model.score_one(x, T0 + 60.0 * i).score)
        model.learn_one(x, T0 + 60.0 * i)
    return scores


def _facts(rng: random.Random) -> set[int]:
    """Value facts of a random 3-bit bin (sometimes 4 bits: out of range), mostly a slow walk."""
    bits = 4 if rng.random() < 0.03 else 3
    q = rng.randrange(1 << bits)
    return {2 * i + ((q >> i) & 1) for i in range(bits)}


def test_memory_agrees_with_the_reference_step_by_step() -> None:
    """plan() + commit() give the reference raw score and next facts on every step."""
    rng = random.Random(5)
    reference, left = ContextOperator(7), ()
    memory = ContextMemory(max_left_facts=7, max_active=15)
    walk = [_facts(rng) for _ in range(60)]
    stream = [walk[(i * 7 + (i // 50)) % 60] if rng.random() < 0.8 else _facts(rng) for i in range(1500)]
    for facts in stream:
        expected, left = reference_step(reference, left, facts)
        plan = memory.plan(tuple(facts))
        assert plan.raw == pytest.approx(expected, abs=1e-12)
        memory.commit(plan)
        assert memory.prev == left
    assert len(memory) == len(reference.contexts)


def test_a_learned_rhythm_goes_quiet_and_a_broken_one_is_flagged() -> None:
    model = ContextDetector(rest_period=5, value_range=(0.0, 7.0))
    learned = _feed(model, PATTERN * 60)
    assert max(learned[-60:]) < 0.3  # the rhythm is known: contexts predict every step
    # same values, wrong order: nothing is out of range, only the sequence is new
    broken = _feed(model, [7.0, 0.0, 7.0, 0.0, 2.0, 7.0])
    assert max(broken) > 0.6


def test_score_one_does_not_learn() -> None:
    model = ContextDetector(value_range=(0.0, 7.0))
    _feed(model, PATTERN * 20)
    before = pickle.dumps(model)
    for v in (0.0, 7.0, 100.0, -50.0):
        model.score_one({"value": v}, T0)
    assert pickle.dumps(model) == before


def test_scoring_then_learning_equals_learning_alone() -> None:
    """The plan cached by score_one is the same step learn_one would compute on its own."""
    scored, plain = ContextDetector(), ContextDetector()
    values = [float((i * 7) % 11) for i in range(400)]
    _feed(scored, values)
    for i, v in enumerate(values):
        plain.learn_one({"value": v}, T0 + 60.0 * i)
    assert pickle.dumps(scored) == pickle.dumps(plain)


def test_memory_is_capped_and_the_snapshot_stays_small() -> None:
    model = ContextDetector(max_contexts=200, value_range=(0.0, 100.0))
    rng = random.Random(3)
    _feed(model, [rng.uniform(0.0, 100.0) for _ in range(3000)])
    assert len(model.memory) <= 200
    restored = pickle.loads(pickle.dumps(model))
    assert _feed(restored, [10.0, 90.0, 50.0] * 20) == _feed(model, [10.0, 90.0, 50.0] * 20)


def test_pruning_keeps_it_working() -> None:
    """After forgetting, a known rhythm is still recognised (the recent contexts are the ones kept)."""
    uncapped = ContextDetector(rest_period=0, value_range=(0.0, 7.0))
    _feed(uncapped, PATTERN * 200)
    cap = 100
    assert len(uncapped.memory) > cap  # the rhythm needs more contexts than the cap: pruning happens
    model = ContextDetector(max_contexts=cap, rest_period=0, value_range=(0.0, 7.0))
    _feed(model, PATTERN * 200)
    assert len(model.memory) < len(uncapped.memory)
    assert max(_feed(model, PATTERN * 5)) < 0.3


def test_rest_period_reports_one_alert_per_incident() -> None:
    model = ContextDetector(rest_period=30, base_threshold=0.75, value_range=(0.0, 7.0))
    _feed(model, PATTERN * 60)
    scores = _feed(model, [7.0, 0.0, 7.0, 0.0, 2.0, 7.0, 0.0, 5.0, 0.0, 7.0, 2.0, 0.0] * 2)
    first = next(i for i, s in enumerate(scores) if s >= 0.75)
    assert all(s == 0.0 for s in scores[first + 1 :])


def test_a_value_beyond_the_range_is_reported_even_while_resting() -> None:
    """The rest period silences repeats of one incident, not a larger excursion than any seen."""
    model = ContextDetector(rest_period=30, base_threshold=0.75, value_range=(0.0, 7.0))
    _feed(model, PATTERN * 60)
    scores = _feed(model, [7.0, 0.0, 7.0, 0.0, 2.0, 7.0, 0.0, 5.0, 0.0, 7.0])
    assert max(scores) >= 0.75 and model.since_strong <= 30
    assert _feed(model, [50.0])[0] >= 0.75
    # with one value bit an in-range value is a single fact too: it still rests
    one_bit = ContextDetector(value_bits=1, rest_period=1000, value_range=(0.0, 7.0))
    assert max(_feed(one_bit, [0.0, 7.0] * 50 + [0.0, 0.0, 7.0, 7.0, 0.0, 7.0])) == 0.0


def test_out_of_range_values_get_their_own_facts() -> None:
    model = ContextDetector(value_range=(0.0, 7.0))
    inside = {model._facts(v) for v in (0.0, 3.5, 7.0)}
    assert all(len(f) == 3 for f in inside)
    above, below = model._facts(100.0), model._facts(-5.0)
    assert len(above) == 1 and len(below) == 1 and above != below
    assert not set(above) & set().union(*inside) and not set(below) & set().union(*inside)
    assert model._facts(1e308) and model._facts(-1e308)  # no overflow


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        ContextDetector(value_bits=0)
    with pytest.raises(ValueError):
        ContextDetector(max_contexts=3)
    with pytest.raises(ValueError):
        ContextDetector(value_range=(5.0, 1.0))
    with pytest.raises(ValueError):
        ContextDetector(range_trim=0.5)


def test_online_range_warms_up_then_relearns_once_values_beyond_it_hold() -> None:
    model = ContextDetector(warmup=50, replay=100, range_growth=0.5, initial_headroom=0.0, range_trim=0.01)
    scores = _feed(model, [float(i % 10) for i in range(49)])
    assert not model.ready and all(s == 0.0 for s in scores)
    _feed(model, [float(i % 10) for i in range(49, 120)])
    assert model.ready and (model.lo, model.hi) == (0.0, 9.0)
    _feed(model, [40.0])  # one value past it in 100 is within range_trim: the bins stay
    assert (model.lo, model.hi) == (0.0, 9.0)
    _feed(model, [40.0])
    assert model.hi == pytest.approx(40.0 + 0.5 * 9.0)  # widened past the new extreme by half a span
    assert len(model.recent) == 100
    eager = ContextDetector(warmup=50, replay=100, range_growth=0.5, initial_headroom=0.0, range_trim=0.0)
    _feed(eager, [float(i % 10) for i in range(120)] + [40.0])
    assert eager.hi == pytest.approx(40.0 + 0.5 * 9.0)  # range_trim=0: every value past it widens it


def test_a_lone_spike_does_not_blind_the_bins() -> None:
    """A range grown to take in a spike 20 spans high put every ordinary value in one bin."""
    rng = random.Random(5)
    noise = [50.0 + rng.gauss(0.0, 1.0) for _ in range(400)]
    after = [50.0 + rng.gauss(0.0, 1.0) for _ in range(200)]
    spike = 50.0 + 20 * (max(noise) - min(noise))
    trimmed, eager = ContextDetector(), ContextDetector(range_trim=0.0)
    for model in (trimmed, eager):
        _feed(model, noise)
        before = (model.lo, model.hi)
        assert _feed(model, [spike])[0] >= 0.75  # beyond every value seen: reported at once
        _feed(model, after)
    assert (trimmed.lo, trimmed.hi) == before
    assert len({trimmed._facts(v) for v in after}) >= 3  # ordinary values still spread over bins
    assert len({eager._facts(v) for v in after}) == 1  # the failure this guards against


def test_a_far_shift_that_holds_widens_the_range_and_a_near_value_at_once() -> None:
    rng = random.Random(6)
    model = ContextDetector(replay=300, range_trim=0.01)
    _feed(model, [10.0 + rng.gauss(0.0, 1.0) for _ in range(400)])
    lo, hi = model.lo, model.hi
    level = hi + 2 * (hi - lo)  # further past the range than it is wide
    _feed(model, [level + rng.gauss(0.0, 0.5) for _ in range(3)])
    assert (model.lo, model.hi) == (lo, hi)  # 3 of 300 values: still outliers
    _feed(model, [level + rng.gauss(0.0, 0.5) for _ in range(2)])
    assert model.hi > level and model.lo == lo  # a level that holds is taken in, over both levels
    _feed(model, [level + rng.gauss(0.0, 0.5) for _ in range(298)])  # 299 values since it widened
    assert model.lo == lo
    _feed(model, [level + rng.gauss(0.0, 0.5)])
    recent = [model.anchor + v for v in model.recent]
    width = max(recent) - min(recent)
    assert model.lo == pytest.approx(min(recent) - width) and model.hi == pytest.approx(max(recent) + width)
    assert model.lo > hi  # 300 values on: refitted to the new level alone, as at warm-up
    near = ContextDetector(replay=300, range_trim=0.01)
    _feed(near, [10.0 + rng.gauss(0.0, 1.0) for _ in range(400)])
    edge = near.hi + 0.5 * (near.hi - near.lo)
    _feed(near, [edge])
    assert near.hi > edge  # within one width of the range: a wider cycle, taken in at once


def test_beyond_the_range_skips_the_rest_period_only_past_every_value_seen() -> None:
    model = ContextDetector(rest_period=1000, base_threshold=0.75, value_range=(0.0, 7.0))
    _feed(model, PATTERN * 60)
    assert _feed(model, [50.0])[0] >= 0.75
    assert _feed(model, PATTERN * 3 + [50.0])[-1] == 0.0  # reached before: the rest period holds it
    assert _feed(model, [60.0])[0] >= 0.75  # further than ever: new evidence


def test_known_range_and_priors_are_used_from_the_start() -> None:
    model = ContextDetector(value_range=(0.0, 100.0))
    model.learn_one({"value": 50.0}, T0)
    assert (model.lo, model.hi) == (0.0, 100.0) and model.ready
    nab = ContextDetector()
    nab.apply_priors(10.0, 20.0, probation_rows=600)
    assert (nab.lo, nab.hi, nab.rest_period) == (10.0, 20.0, 120)
    with pytest.raises(RuntimeError):
        model.apply_priors(0.0, 1.0, 100)


def test_ensemble_flags_what_either_part_flags() -> None:
    from forewarn.models.ensemble import LikelihoodContextDetector

    model = LikelihoodContextDetector()
    values = PATTERN * 80
    for i, v in enumerate(values):
        model.score_one({"value": v}, T0 + 60.0 * i)
        model.learn_one({"value": v}, T0 + 60.0 * i)
    # ordinary values in an unseen order: only the contextual part can see it
    t = T0 + 60.0 * len(values)
    broken = []
    for i, v in enumerate((7.0, 0.0, 7.0, 0.0)):
        broken.append(model.score_one({"value": v}, t + 60 * i))
        model.learn_one({"value": v}, t + 60 * i)
    assert max(s.score for s in broken) >= 0.5
    with pytest.raises(ValueError):
        LikelihoodContextDetector(context_weight=1.5)


@pytest.mark.parametrize("direction", ["both", "up"])
def test_ensemble_for_latency_ignores_novel_patterns_below_the_expected_value(direction: str) -> None:
    """After a cycle, 0.0 right after 0.0 is unseen (a dip that stays at the low): novel, but below
    usual. (Not 2.0 after 2.0: in Gray code bins 2 and 5 share two facts, so it is only partly new.)"""
    from forewarn.models.base import score_learn
    from forewarn.models.ensemble import LikelihoodContextDetector

    model = LikelihoodContextDetector(direction=direction)
    for i, v in enumerate(PATTERN * 80):
        score_learn(model, {"value": v}, T0 + 60.0 * i)
    t = T0 + 60.0 * len(PATTERN) * 80
    scores = [score_learn(model, {"value": 0.0}, t + 60.0 * i) for i in range(4)]
    assert all(s.expected is not None and s.expected > 0.0 for s in scores)
    top = max(s.score for s in scores)
    assert (top >= 0.5) if direction == "both" else (top == 0.0)


def test_ensemble_hands_the_nab_priors_to_its_contextual_part() -> None:
    from forewarn.models.ensemble import LikelihoodContextDetector

    model = LikelihoodContextDetector()
    model.apply_priors(0.0, 7.0, 500)
    assert model.context.value_range == (0.0, 7.0) and model.context.ready
    assert model.context.rest_period == 100  # a fifth of the probation, as CAD OSE's wrapper
    scores = [model.score_learn_one({"value": v}, T0 + 60.0 * i).score for i, v in enumerate(PATTERN * 30)]
    assert model.context.n == len(scores)  # no warm-up: the range is known from the first value
    with pytest.raises(RuntimeError):
        model.apply_priors(0.0, 7.0, 500)  # only before the first value


def test_ensemble_snapshots_from_before_direction_restore_as_both_ways() -> None:
    import pickle

    from forewarn.models.ensemble import LikelihoodContextDetector

    model = LikelihoodContextDetector(direction="up")
    del model.__dict__["direction"]  # what an older snapshot holds
    restored = pickle.loads(pickle.dumps(model))
    assert restored.direction == "both"


def test_a_new_record_beyond_the_tolerance_scores_one_at_once() -> None:
    """The spatial rule (Numenta's HTM detector for NAB): a value 5 % of the span past every value seen."""
    model = ContextDetector(rest_period=1000, value_range=(0.0, 100.0))
    _feed(model, PATTERN * 40)  # seen 0..7 of a 0..100 range: all in the lowest bins
    assert model.score_one({"value": 7.3}).score < 1.0  # within 5 % of the span seen (0.35)
    assert model.score_one({"value": 7.5}).score == 1.0  # a record by more than that, despite the rest
    assert model.score_one({"value": -0.5}).score == 1.0
    _feed(model, [7.5])
    assert model.score_one({"value": 7.5}).score < 1.0  # learned: no longer a record
    off = ContextDetector(rest_period=1000, value_range=(0.0, 100.0), spatial_tolerance=None)
    _feed(off, PATTERN * 40)
    assert off.score_one({"value": 7.5}).score == 0.0  # the reference CAD OSE: resting
    with pytest.raises(ValueError):
        ContextDetector(spatial_tolerance=-0.1)


def test_online_a_climbing_gauge_breaks_no_record() -> None:
    """Online, a rising gauge sets a new extreme every few steps: none has held, so none is a record."""
    rng = random.Random(11)
    values = [50.0 + 0.05 * i + rng.gauss(0.0, 2.0) for i in range(600)]  # a rising gauge: many records
    with_rule, without = ContextDetector(), ContextDetector(spatial_tolerance=None)
    assert _feed(with_rule, values) == _feed(without, values)
    told = ContextDetector(value_range=(0.0, 200.0), rest_period=10_000)
    assert max(_feed(told, values)) == 1.0  # with a given range the same records are reported


def test_online_a_jump_past_an_extreme_that_held_is_a_record() -> None:
    """Online, once ``warmup`` values are learned, a value 5 % of the span past an extreme that held for
    ``warmup`` values scores 1.0, even resting and inside the learned range's headroom."""
    rng = random.Random(5)
    plateau = [10.0 + rng.uniform(-1.0, 1.0) for _ in range(400)]
    model = ContextDetector(rest_period=10_000)
    _feed(model, plateau)
    top, span = max(plateau), max(plateau) - min(plateau)
    jump = top + 0.2 * span  # past the record by 20 % of the span seen, inside the headroom
    assert model.lo < jump < model.hi
    assert model.explain_one({"value": jump})["new_record"] == 1.0
    assert model.score_one({"value": jump}).score == 1.0
    assert model.score_one({"value": top + 0.01 * span}).score < 1.0  # within the tolerance
    off = ContextDetector(rest_period=10_000, online_record=False)
    _feed(off, plateau)
    assert off.score_one({"value": jump}).score == 0.0  # resting, and no rule
    young = ContextDetector(rest_period=10_000)
    _feed(young, plateau[: young.warmup - 1])
    assert young.explain_one({"value": jump}).get("new_record", 0.0) == 0.0  # not armed yet
    _feed(model, [jump])  # the new extreme has not held: the next step past it is no record
    assert model.score_one({"value": jump + 0.2 * span}).score < 1.0


def test_snapshots_from_before_the_online_record_rule_keep_it_off() -> None:
    model = ContextDetector()
    _feed(model, [float(i % 7) for i in range(200)])
    for name in ("online_record", "low_at", "high_at"):
        del model.__dict__[name]  # what an older snapshot holds
    restored = pickle.loads(pickle.dumps(model))
    assert restored.online_record is False and restored.low_at == restored.high_at == 0


def test_snapshots_from_before_range_trim_keep_growing_on_every_value_past_the_range() -> None:
    model = ContextDetector()
    _feed(model, [float(i % 7) for i in range(200)])
    del model.__dict__["range_trim"]
    del model.__dict__["refit_at"]
    restored = pickle.loads(pickle.dumps(model))
    assert restored.range_trim == 0.0 and restored.refit_at == 0


def test_explain_one_says_which_rule_fired_without_learning() -> None:
    model = ContextDetector(rest_period=0, value_range=(0.0, 7.0))
    _feed(model, PATTERN * 60)
    before = pickle.dumps(model)
    broken = model.explain_one({"value": 7.0})  # after the pattern's last 2.0 comes 0.0, never 7.0
    assert broken["novelty"] > 0.0 and broken["contexts"] == len(model.memory)
    assert broken["beyond_range"] == 0.0 and broken["new_record"] == 0.0
    assert model.explain_one({"value": 150.0})["beyond_range"] == 1.0
    assert pickle.dumps(model) == before
    wide = ContextDetector(rest_period=0, value_range=(0.0, 100.0))
    _feed(wide, PATTERN * 20)
    record = wide.explain_one({"value": 40.0})  # 0..7 seen: 40 is a record inside the given range
    assert record["new_record"] == 1.0 and record["beyond_range"] == 0.0
    assert ContextDetector().explain_one({"value": 1.0}) == {}  # online range not ready yet


def test_neighbouring_bins_share_all_but_one_fact_in_gray_code() -> None:
    """Gray code (the default): moving one bin changes one fact, wherever the data sit in the range."""
    gray = ContextDetector(value_range=(0.0, 7.0))
    plain = ContextDetector(value_range=(0.0, 7.0), gray_code=False)

    def changed(model: ContextDetector, a: float, b: float) -> int:
        return len(set(model._facts(a)) ^ set(model._facts(b))) // 2

    steps = [(k + 0.5, k + 1.5) for k in range(7)]
    assert [changed(gray, a, b) for a, b in steps] == [1] * 7
    assert [changed(plain, a, b) for a, b in steps] == [1, 2, 1, 3, 1, 2, 1]  # the reference's
    assert len({gray._facts(k + 0.5) for k in range(8)}) == 8  # still one code per bin


def test_nab_priors_run_the_reference_binary_code_and_old_snapshots_keep_theirs() -> None:
    model = ContextDetector()
    assert model.gray_code is True
    model.apply_priors(0.0, 7.0, 600)
    assert model.gray_code is False and model.rest_period == 120
    online = ContextDetector()
    _feed(online, PATTERN * 30)
    del online.__dict__["gray_code"]  # what a snapshot from before the Gray code holds
    assert pickle.loads(pickle.dumps(online)).gray_code is False
