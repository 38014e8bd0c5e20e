"""A nightly job is reported on its first nights, not every night: both parts of the default learn it.

A weekly one too (the likelihood part), and a run clearly larger than the usual ones is still news.

Why: in NAB's cloud metrics (``ec2_cpu_utilization_24ae8d``, ``_c6585a``) a spike at ~03:20 every
night alarmed every night, from both parts. The likelihood part's decaying peak let a spike of the
same size through each night; CAD counted far values within its replay window (~25 h at 5 minutes),
which never held the k + 1 = 4 it needs to widen its bins, so the spike stayed novel.
"""

from __future__ import annotations

import pickle
import random

import pytest

from forewarn.models.base import score_learn
from forewarn.models.cad import ContextDetector
from forewarn.models.ensemble import LikelihoodContextDetector
from forewarn.models.likelihood import LikelihoodDetector

pytestmark = pytest.mark.unit

DAY = 288  # values a day at 5 minutes
MIDNIGHT = 1_699_920_000.0  # 2023-11-14 00:00 UTC


def _nights(nights: int, every: int = 1, seed: int = 4) -> list[tuple[float, float]]:
    """CPU around 0.2; from the second day, a job at 03:20 lifts it to ~1.5 every ``every`` nights."""
    rng = random.Random(seed)
    out = []
    for i in range(DAY * nights):
        day, slot = divmod(i, DAY)
        value = 0.2 + rng.gauss(0.0, 0.05)
        if slot == 40 and day >= 1 and (day - 1) % every == 0:
            value = 1.5 + rng.uniform(-0.1, 0.1)
        out.append((MIDNIGHT + 300.0 * i, value))
    return out


def _alert_nights(detector: object, stream: list[tuple[float, float]]) -> list[int]:
    """The days on which the job's slot (03:20) alerted (score >= 0.5), after a day of warm-up."""
    nights = []
    for i, (t, value) in enumerate(stream):
        score = score_learn(detector, {"value": value}, t).score  # type: ignore[arg-type]
        if i >= DAY and i % DAY == 40 and score >= 0.5:
            nights.append(i // DAY)
    return nights


def test_the_likelihood_part_reports_a_nightly_job_twice_and_keeps_it_routine_past_a_week() -> None:
    """Nights 1 and 2 alert (a second incident at the same hour a day later is not yet routine)."""
    stream = _nights(10)
    assert _alert_nights(LikelihoodDetector(), stream) == [1, 2]  # 9 nights, the last 2 past the first week
    assert _alert_nights(LikelihoodDetector(seasonal_memory=0.0), stream) == list(range(1, 10))


def test_two_runs_on_one_day_are_not_two_days() -> None:
    """Routine needs two earlier days: two runs in the same hour of one day count as one."""
    stream = _nights(4, every=100)  # one run, night 1 at 03:20
    at = DAY + 44  # and another at 03:40 the same night
    stream[at] = (stream[at][0], 1.5)
    second = DAY * 2 + 40  # the next night at 03:20
    stream[second] = (stream[second][0], 1.5)
    detector = LikelihoodDetector()
    scores = [score_learn(detector, {"value": v}, t).score for t, v in stream]
    assert scores[DAY + 40] >= 0.5 and scores[second] >= 0.5


def test_a_job_that_stops_for_more_than_a_week_is_news_again() -> None:
    stream = _nights(12, every=9)  # nights 1 and 10
    assert _alert_nights(LikelihoodDetector(), stream) == [1, 10]


def test_cad_takes_a_recurring_far_spike_into_its_bins_and_learns_it() -> None:
    cad = ContextDetector()
    stream = _nights(10)
    nights = _alert_nights(cad, stream[: DAY * 5])
    assert cad.hi >= 1.4  # the 4th night's spike widened the bins
    nights += _alert_nights(cad, stream[DAY * 5 :])
    assert nights and max(nights) <= 6  # learned: the last three nights are quiet


def test_a_lone_far_spike_never_widens_the_bins() -> None:
    cad = ContextDetector()
    assert _alert_nights(cad, _nights(8, every=100)) == [1]  # one job run, on night 1
    assert cad.hi < 1.0  # the range stays around the noise (0.05 to 0.35)


def test_the_default_goes_quiet_on_a_nightly_job() -> None:
    nights = _alert_nights(LikelihoodContextDetector(), _nights(10))
    assert nights[0] == 1 and max(nights) <= 6


def test_snapshots_from_before_the_seasonal_memory_keep_alerting_every_night() -> None:
    """A pickle without the new state restores with ``seasonal_memory`` 0, as it was built."""
    old = LikelihoodDetector()
    for key in ("seasonal_memory", "bin_size", "bin_peak_t", "bin_prev_t", "bin_days", "weekly_memory"):
        del old.__dict__[key]
    del old.__dict__["routine_size"]
    restored = pickle.loads(pickle.dumps(old))
    assert restored.seasonal_memory == 0.0
    assert _alert_nights(restored, _nights(4)) == [1, 2, 3]


def test_snapshots_that_kept_evidence_per_bin_learn_the_sizes_afresh() -> None:
    """The last release kept each bin's largest evidence (``bin_peak``); sizes are not in it."""
    old = LikelihoodDetector()
    for key in ("bin_size", "bin_days", "weekly_memory", "routine_size"):
        del old.__dict__[key]
    old.__dict__["bin_peak"] = [0.95] * old.seasonal_bins
    restored = pickle.loads(pickle.dumps(old))
    assert "bin_peak" not in restored.__dict__ and restored.bin_size == [0.0] * 24
    assert (restored.weekly_memory, restored.routine_size) == (4.0, 1.5)
    assert _alert_nights(restored, _nights(5)) == [1, 2]


def _weeks(weeks: int, nights: tuple[int, ...] = ()) -> list[tuple[float, float]]:
    """A job at 03:20 every 7th night from night 1, or on ``nights`` when given."""
    stream = _nights(7 * weeks + 1, every=10_000)  # no job, but the same noise
    for night in nights or tuple(range(1, 7 * weeks + 1, 7)):
        at = DAY * night + 40
        stream[at] = (stream[at][0], 1.5)
    return stream


def test_a_weekly_job_is_reported_on_two_weeks_and_then_is_routine() -> None:
    stream = _weeks(6)  # nights 1, 8, 15, 22, 29, 36
    assert _alert_nights(LikelihoodDetector(), stream) == [1, 8]
    assert _alert_nights(LikelihoodDetector(weekly_memory=0.0), stream) == [1, 8, 15, 22, 29, 36]


def test_a_weekly_job_on_another_weekday_is_news() -> None:
    assert _alert_nights(LikelihoodDetector(), _weeks(3, nights=(1, 8, 16))) == [1, 8, 16]


def test_a_job_half_again_as_large_as_its_runs_is_news() -> None:
    """Sizes, not evidence: evidence saturates, so a job four times as large scored as a routine one."""
    for value, nights in ((1.9, [1, 2]), (4.1, [1, 2, 5])):  # 1.3x and 3x the usual 1.3 above normal
        stream = _nights(7)
        at = DAY * 5 + 40
        stream[at] = (stream[at][0], value)
        assert _alert_nights(LikelihoodDetector(), stream) == nights, value
