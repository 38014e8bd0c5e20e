"""Every model by name, with its default configuration: what the check suite and the CLI iterate over.

Why a registry: the dataflow, ``forewarn bench`` and the generic tests pick models by name, so adding a
model is one line here, and a model owned by another area (the pipeline's z-score) joins once it exists.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

ModelFactory = Callable[[], Any]

_DETECTORS: dict[str, tuple[str, str]] = {
    "likelihood": ("forewarn.models.likelihood", "LikelihoodDetector"),
    "zscore": ("forewarn.models.zscore", "EWZScore"),
    "service": ("forewarn.models.multivariate", "ServiceDetector"),
    "cad": ("forewarn.models.cad", "ContextDetector"),
    "likelihood_cad": ("forewarn.models.ensemble", "LikelihoodContextDetector"),
    "likelihood_record": ("forewarn.models.record", "RecordLikelihoodDetector"),
}
_FORECASTERS: dict[str, tuple[str, str]] = {
    "trend": ("forewarn.models.trend", "TrendForecaster"),
}
_PROBABILITIES: dict[str, tuple[str, str]] = {
    "failure": ("forewarn.models.failure", "FailureProbability"),
}


def _load(table: dict[str, tuple[str, str]]) -> dict[str, ModelFactory]:
    out: dict[str, ModelFactory] = {}
    for name, (module, attr) in table.items():
        try:
            out[name] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue  # not written yet (another area's model): skipped, not an error
    return out


def detectors() -> dict[str, ModelFactory]:
    """Detector factories that exist in this build, by name."""
    return _load(_DETECTORS)


def forecasters() -> dict[str, ModelFactory]:
    """Forecaster factories that exist in this build, by name."""
    return _load(_FORECASTERS)


def probabilities() -> dict[str, ModelFactory]:
    """Failure-probability model factories (P(fails within h) from delayed labels), by name."""
    return _load(_PROBABILITIES)
