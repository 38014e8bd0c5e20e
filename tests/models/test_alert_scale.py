"""The rescale that lets the dataflow read every detector's own threshold as 0.5."""

from __future__ import annotations

import itertools
import pickle

import pytest

from forewarn.models.alert_scale import AlertScaled, rescale_to_alert
from forewarn.models.cad import ContextDetector

pytestmark = pytest.mark.unit


def test_the_threshold_maps_to_one_half_and_the_order_is_kept() -> None:
    assert rescale_to_alert(0.75, 0.75) == 0.5
    assert rescale_to_alert(0.0, 0.75) == 0.0 and rescale_to_alert(1.0, 0.75) == 1.0
    grid = [i / 100 for i in range(101)]
    mapped = [rescale_to_alert(v, 0.75) for v in grid]
    assert all(a < b for a, b in itertools.pairwise(mapped))  # strictly monotone: ranking kept
    assert rescale_to_alert(7.0, 0.75) == 1.0 and rescale_to_alert(-1.0, 0.75) == 0.0


def test_wrapped_detector_scores_rescaled_learns_unchanged_and_pickles() -> None:
    plain = ContextDetector(value_range=(0.0, 10.0), rest_period=0)
    wrapped = AlertScaled(ContextDetector(value_range=(0.0, 10.0), rest_period=0), threshold=0.75)
    assert wrapped.name == "ContextDetector"
    for i in range(300):
        x = {"value": float((i * 3) % 10)}
        raw, scaled = plain.score_one(x), wrapped.score_one(x)
        assert scaled.score == pytest.approx(rescale_to_alert(raw.score, 0.75))
        assert (scaled.score >= 0.5) == (raw.score >= 0.75)
        plain.learn_one(x)
        wrapped.learn_one(x)
    assert pickle.dumps(plain) == pickle.dumps(wrapped.detector)
    restored = pickle.loads(pickle.dumps(wrapped))
    assert restored.score_one({"value": 9.5}) == wrapped.score_one({"value": 9.5})
    with pytest.raises(ValueError):
        AlertScaled(plain, threshold=1.0)
